package flow

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"handoff/crypto"
)

// readKey is the opened content of a read key.
type readKey struct {
	id      loginID
	expires time.Time
	machine string
}

// state is the opened content of an OAuth state.
type state struct {
	readKey
	verifier string // PKCE code_verifier; empty with PKCE off
	nonce    [crypto.NonceSize]byte
	choices
}

// The plaintexts sealed as a read key and as a state (what each carries:
// docs/protocol.md#how-a-login-works). A read key is
//
//	id(16) expiry(8) machine
//
// and a state
//
//	id(16) expiry(8) flags(1) verifier(0|32) machine
//
// or, when the login has sealed choices (flags has hasChoices),
//
//	id(16) expiry(8) flags(1) verifier(0|32) machineLen(1) machine choices
//
// so a login without choices has the same state as before they existed.
// The expiry is big-endian Unix nanoseconds; flags is the verifier's length
// (0 with PKCE off) with hasChoices; choices are appendSealed's.
const (
	idSize       = 16
	expiryAt     = idSize
	headSize     = expiryAt + 8 // id and expiry: what read keys and states share
	flagsAt      = headSize
	verifierAt   = flagsAt + 1
	verifierSize = 32 // raw bytes (RFC 7636 §4.1)
	maxMachineID = 64

	// hasChoices marks, in the flags byte, a state that carries choices.
	hasChoices = 0x80

	// plainReadKeySize and plainStateSize bound a read key and a state
	// without choices: their buffers never grow.
	plainReadKeySize = headSize + maxMachineID
	plainStateSize   = verifierAt + verifierSize + maxMachineID

	// The verifier and the challenge (base64url of a SHA-256 sum) once
	// encoded: 43 characters each.
	encodedVerifierSize = (verifierSize*8 + 5) / 6
	challengeSize       = (sha256.Size*8 + 5) / 6
)

// maxStateSize is the size of a state with choices, the machine id's and
// sealed choices' lengths given, with a verifier whether PKCE is on or not.
func maxStateSize(machine, sealed int) int {
	return verifierAt + verifierSize + 1 /* machineLen */ + machine + sealed
}

// openReadKey checks a read key without touching any store.
func (b *Broker) openReadKey(s string) (readKey, bool) {
	var buf [plainReadKeySize]byte
	p, _, err := b.cfg.Sealer.Open(buf[:0], s, readKeyPurpose)
	if err != nil || len(p) < headSize {
		return readKey{}, false
	}
	return parseReadKey(p[:headSize], p[headSize:], b.cfg.MachineID), true
}

// parseReadKey reads the id and expiry from head and takes machine as the
// owner's name. A login of this machine (own) shares own's string, so that
// checking a key allocates nothing with FLY_MACHINE_ID set either; only
// another machine's name is copied.
func parseReadKey(head, machine []byte, own string) readKey {
	var k readKey
	copy(k.id[:], head)
	k.expires = time.Unix(0, int64(binary.BigEndian.Uint64(head[expiryAt:])))
	switch {
	case len(machine) == 0:
	case string(machine) == own: // compared without a copy
		k.machine = own
	default:
		k.machine = string(machine)
	}
	return k
}

// openState checks a state without touching any store.
func (b *Broker) openState(s string) (state, bool) {
	var buf [plainStateSize]byte
	p, nonce, err := b.cfg.Sealer.Open(buf[:0], s, statePurpose)
	if err != nil || len(p) < verifierAt {
		return state{}, false
	}
	flags := p[flagsAt]
	n := int(flags &^ hasChoices)
	if n != 0 && n != verifierSize || len(p) < verifierAt+n {
		return state{}, false
	}
	st := state{nonce: nonce}
	machine := p[verifierAt+n:]
	if flags&hasChoices != 0 {
		rest := machine
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return state{}, false
		}
		machine = rest[1 : 1+rest[0]]
		c, ok := b.openChoices(rest[1+rest[0]:])
		if !ok {
			return state{}, false
		}
		st.choices = c
	}
	st.readKey = parseReadKey(p[:headSize], machine, b.cfg.MachineID)
	if n > 0 {
		var v [encodedVerifierSize]byte // one copy, as a string
		base64.RawURLEncoding.Encode(v[:], p[verifierAt:verifierAt+n])
		st.verifier = string(v[:])
	}
	return st, true
}

// The sealed form of the choices a state carries, after its machine id:
// a tag byte per choice, then its value.
const (
	tagScope  = 's' // uvarint mask
	tagPrompt = 'p' // one byte, as choices.prompt
	tagVar    = 'v' // index byte, length byte, value
)

func (c *choices) appendSealed(dst []byte) []byte {
	if c.scope != 0 {
		dst = append(dst, tagScope)
		dst = binary.AppendUvarint(dst, c.scope)
	}
	if c.prompt != 0 {
		dst = append(dst, tagPrompt, c.prompt)
	}
	for i, v := range c.vars {
		if v != "" {
			dst = append(dst, tagVar, byte(i), byte(len(v)))
			dst = append(dst, v...)
		}
	}
	return dst
}

// openChoices reads what appendSealed wrote. The payload is authenticated,
// so a failure here means a state from a build with other variables.
func (b *Broker) openChoices(p []byte) (choices, bool) {
	var c choices
	for len(p) > 0 {
		tag := p[0]
		p = p[1:]
		switch tag {
		case tagScope:
			v, n := binary.Uvarint(p)
			if n <= 0 {
				return c, false
			}
			c.scope, p = v, p[n:]
		case tagPrompt:
			if len(p) < 1 || p[0] == 0 || int(p[0]) > len(prompts) {
				return c, false
			}
			c.prompt, p = p[0], p[1:]
		case tagVar:
			if len(p) < 2 || int(p[0]) >= len(b.vars) || len(p) < 2+int(p[1]) {
				return c, false
			}
			if c.vars == nil {
				c.vars = make([]string, len(b.vars))
			}
			c.vars[p[0]] = string(p[2 : 2+int(p[1])])
			p = p[2+int(p[1]):]
		default:
			return c, false
		}
	}
	return c, true
}
