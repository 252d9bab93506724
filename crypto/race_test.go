//go:build race

package crypto_test

func init() { raceEnabled = true }
