package config

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Without SEAL_KEY the seal key is derived from CLIENT_SECRET, and a state
// from a free /authorize lets anyone test guesses of that secret offline at
// a million a second or more (SECURITY.md, property 10). So the secret must look
// machine-generated; these are the rules, each cheap and without a word list.

// minSecretBits is the least estimated strength of a CLIENT_SECRET that the
// seal key may be derived from: out of reach of an offline search for years.
// Dropbox's 15 lowercase letters and digits give 77.5.
const minSecretBits = 72

// minDistinct: a secret of fewer different characters repeats itself.
const minDistinct = 8

// guessable says why a client secret must not be the source of the seal key,
// or returns "" when it looks machine-generated. The answer never quotes the
// secret.
func guessable(secret string) string {
	switch {
	case secretBits(secret) < minSecretBits:
		return fmt.Sprintf("it is too short or uses too few kinds of characters (under %d bits by handoff's estimate)", minSecretBits)
	case repeatsPattern(secret):
		return "it repeats a pattern"
	case wordsThenDigits(secret):
		return "it reads as words, maybe followed by digits"
	}
	return ""
}

// secretBits estimates a secret's strength as its length times log2 of the
// alphabet of the character classes it uses: lowercase 26, uppercase 26,
// digits 10, anything else 33 (the other printable ASCII characters).
func secretBits(s string) float64 {
	var lower, upper, digit, other bool
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		default:
			other = true
		}
	}
	alphabet := 0
	for _, c := range []struct {
		used bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}} {
		if c.used {
			alphabet += c.size
		}
	}
	if alphabet == 0 {
		return 0
	}
	return float64(utf8.RuneCountInString(s)) * math.Log2(float64(alphabet))
}

// repeatsPattern reports a secret made of few characters or of a repeated
// piece: fewer than minDistinct different characters; one character for half
// of it or more; a shorter unit repeated (Summer2024Summer2024); or steps
// from one character to the next of which at least half repeat the step 1,
// 2, 3 or 4 places before (abcdefgh12345678, a1b2c3d4e5f6, zxcvzxcvZXCV).
func repeatsPattern(s string) bool {
	r := []rune(s)
	n := len(r)
	counts := map[rune]int{}
	for _, c := range r {
		counts[c]++
		if 2*counts[c] >= n {
			return true
		}
	}
	if len(counts) < minDistinct {
		return true
	}
	for p := 1; p <= n/2; p++ {
		periodic := true
		for i := p; i < n && periodic; i++ {
			periodic = r[i] == r[i-p]
		}
		if periodic {
			return true
		}
	}
	steps := make([]rune, n-1)
	for i := range steps {
		steps[i] = r[i+1] - r[i]
	}
	for p := 1; p <= 4; p++ {
		same := 0
		for i := p; i < len(steps); i++ {
			if steps[i] == steps[i-p] {
				same++
			}
		}
		if 2*same >= len(steps) {
			return true
		}
	}
	return false
}

// wordsThenDigits reports the shape people give passwords: words, maybe
// split by single separators (space - _ .), then any digits (maybe after
// one separator), then at most three other characters: summer2024,
// Correcthorsebattery2024!, correct-horse-battery-staple, Top-Secret_2024. The letters must read like words, which
// random letters seldom do: each word lowercase, UPPERCASE or Capitalised
// (CamelCase for several); never five consonants in a row; and vowels
// (a e i o u y) for at least a quarter of the letters, or 3 in 10 from 12
// letters on, where random letters (23 % vowels) vary less. About one in a
// thousand random lowercase-and-digit secrets of 15 characters (Dropbox's)
// has that shape; config's tests measure it.
func wordsThenDigits(s string) bool {
	var words []string
	i := 0
	for {
		j := i
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		if j == i {
			return false // no word, or a separator not followed by one
		}
		words = append(words, s[i:j])
		i = j
		if i+1 < len(s) && strings.IndexByte(" -_.", s[i]) >= 0 && isLetter(s[i+1]) {
			i++
			continue
		}
		break
	}
	if i+1 < len(s) && strings.IndexByte(" -_.", s[i]) >= 0 && isDigit(s[i+1]) {
		i++ // summer-2024
	}
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if rest := s[i:]; len(rest) > 3 || strings.ContainsFunc(rest, func(r rune) bool {
		return r < 128 && (isLetter(byte(r)) || isDigit(byte(r)))
	}) {
		return false
	}
	letters, vowels := 0, 0
	for _, w := range words {
		if !wordCase(w) {
			return false
		}
		run := 0
		for _, c := range strings.ToLower(w) {
			letters++
			if strings.ContainsRune("aeiouy", c) {
				vowels++
				run = 0
			} else if run++; run >= 5 {
				return false
			}
		}
	}
	if letters >= 12 {
		return 10*vowels >= 3*letters
	}
	return 4*vowels >= letters
}

// wordCase reports whether a run of letters is cased as words are: all
// UPPERCASE, or lowercase words each with an optional capital first
// (summer, Summer, CorrectHorse, iPhone).
func wordCase(w string) bool {
	if strings.ToUpper(w) == w {
		return true
	}
	for i := 0; i < len(w); i++ {
		if isUpper(w[i]) && (i+1 == len(w) || isUpper(w[i+1])) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || isUpper(c) }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
