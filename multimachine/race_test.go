//go:build race

package multimachine

func init() { raceEnabled = true }
