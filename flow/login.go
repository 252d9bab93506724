package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"strings"

	"handoff/crypto"
)

// A login is known only by what its two sealed values carry: the read key,
// which the plugin keeps and polls with, and the state, which travels through
// the provider and back to /redirect. Both hold the login's random id and
// expiry, so /redirect and /poll meet in the stores under the same id. The
// associated data keeps one from being accepted as the other.
var (
	readKeyPurpose = []byte("handoff read key v1")
	statePurpose   = []byte("handoff state v1")
)

type loginID [idSize]byte

// logRef is a short reference to a login for logs: enough to follow one login
// through the log, useless to poll or redeem it.
func (id loginID) logRef() string { return hex.EncodeToString(id[:6]) }

// Login is what the plugin receives from /authorize.
type Login struct {
	URL     string `json:"url"`
	ReadKey string `json:"readKey"`
	id      loginID
}

// LogRef is the login's short reference for the log (see loginID.logRef):
// web puts it on /authorize's request line, which is the line that says a
// login started (docs/deploy.md#following-a-login).
func (l Login) LogRef() string { return l.id.logRef() }

// Authorize starts a login with the app's defaults. It stores nothing:
// everything /redirect and /poll will need is sealed into the state and the
// read key.
func (b *Broker) Authorize() Login {
	return b.start(b.authorizeURL, nil)
}

// AuthorizeWith starts a login shaped by the plugin's choices
// (docs/protocol.md#authorize); p is nil for a request without parameters.
// Without choices the login is exactly Authorize's. An *Error of
// KindInvalidRequest names the parameter at fault.
func (b *Broker) AuthorizeWith(p Params) (Login, error) {
	if p == nil && b.authorizeURL != "" && len(b.loginNeeds) == 0 {
		return b.start(b.authorizeURL, nil), nil
	}
	c, err := b.choose(p)
	if err != nil {
		return Login{}, err
	}
	if c.none() && b.authorizeURL != "" {
		return b.start(b.authorizeURL, nil), nil
	}
	prefix, err := b.loginURL(&c)
	if err != nil {
		return Login{}, err
	}
	sealed := c.appendSealed(nil)
	if maxStateSize(len(b.cfg.MachineID), len(sealed)) > crypto.MaxPayload {
		return Login{}, invalidParam(b.longestVar(&c), "too long")
	}
	return b.start(prefix, sealed), nil
}

// start makes a login's read key and state, and its URL from prefix (the
// authorize URL up to the state). sealed (choices.appendSealed), when not
// empty, goes into the state.
func (b *Broker) start(prefix string, sealed []byte) Login {
	var id loginID
	rand.Read(id[:])
	expires := b.now().Add(b.cfg.LoginTTL)

	var buf [plainStateSize]byte
	p := append(buf[:0], id[:]...)
	p = binary.BigEndian.AppendUint64(p, uint64(expires.UnixNano()))
	machine := b.cfg.MachineID
	key := b.cfg.Sealer.Seal(append(p, machine...), readKeyPurpose)

	// The PKCE verifier and challenge are encoded on the stack: only the
	// two sealed values and the URL are allocated.
	var challenge [challengeSize]byte
	if b.cfg.PKCE {
		var raw [verifierSize]byte
		rand.Read(raw[:])
		p = append(p, verifierSize)
		p = append(p, raw[:]...)
		var verifier [encodedVerifierSize]byte
		base64.RawURLEncoding.Encode(verifier[:], raw[:])
		sum := sha256.Sum256(verifier[:])
		base64.RawURLEncoding.Encode(challenge[:], sum[:])
	} else {
		p = append(p, 0)
	}
	if len(sealed) > 0 {
		p[flagsAt] |= hasChoices
		p = append(p, byte(len(machine)))
		p = append(p, machine...)
		p = append(p, sealed...)
	} else {
		p = append(p, machine...)
	}
	st := b.cfg.Sealer.Seal(p, statePurpose)

	n := len(prefix) + len("state=") + len(st)
	if b.cfg.PKCE {
		n += len("&code_challenge=&code_challenge_method=S256") + len(challenge)
	}
	var u strings.Builder
	u.Grow(n)
	u.WriteString(prefix)
	u.WriteString("state=")
	u.WriteString(st)
	if b.cfg.PKCE {
		u.WriteString("&code_challenge=")
		u.Write(challenge[:])
		u.WriteString("&code_challenge_method=S256")
	}
	b.metrics.LoginStarted()
	if b.log.Enabled(context.Background(), slog.LevelDebug) {
		b.log.Debug("login started", "login", id.logRef())
	}
	return Login{URL: u.String(), ReadKey: key, id: id}
}

// lock returns the lock that serialises check-then-set for one login.
func (b *Broker) lock(id loginID) func() {
	m := &b.locks[id[0]%byte(len(b.locks))]
	m.Lock()
	return m.Unlock
}
