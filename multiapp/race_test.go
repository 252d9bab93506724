//go:build race

package multiapp

func init() { raceEnabled = true }
