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
	"time"

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

const (
	idSize       = 16
	verifierSize = 32 // raw bytes; 43 characters once encoded (RFC 7636 §4.1)
	maxMachineID = 64
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
}

// Authorize starts a login. It stores nothing: everything /redirect and
// /poll will need is sealed into the state and the read key.
func (b *Broker) Authorize() Login {
	var id loginID
	rand.Read(id[:])
	expires := b.now().Add(b.cfg.LoginTTL)

	var buf [idSize + 8 + 1 + verifierSize + maxMachineID]byte
	p := append(buf[:0], id[:]...)
	p = binary.BigEndian.AppendUint64(p, uint64(expires.UnixNano()))
	machine := b.cfg.MachineID
	key := b.cfg.Sealer.Seal(append(p, machine...), readKeyPurpose)

	// The PKCE verifier and challenge are encoded on the stack: only the
	// two sealed values and the URL are allocated.
	var challenge [43]byte // base64url of a SHA-256 sum
	if b.cfg.PKCE {
		var raw [verifierSize]byte
		rand.Read(raw[:])
		p = append(p, verifierSize)
		p = append(p, raw[:]...)
		var verifier [43]byte // base64url of verifierSize bytes
		base64.RawURLEncoding.Encode(verifier[:], raw[:])
		sum := sha256.Sum256(verifier[:])
		base64.RawURLEncoding.Encode(challenge[:], sum[:])
	} else {
		p = append(p, 0)
	}
	st := b.cfg.Sealer.Seal(append(p, machine...), statePurpose)

	n := len(b.authorizeURL) + len("state=") + len(st)
	if b.cfg.PKCE {
		n += len("&code_challenge=&code_challenge_method=S256") + len(challenge)
	}
	var u strings.Builder
	u.Grow(n)
	u.WriteString(b.authorizeURL)
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

// openReadKey checks a read key without touching any store.
func (b *Broker) openReadKey(s string) (readKey, bool) {
	var buf [idSize + 8 + maxMachineID]byte
	p, _, err := b.cfg.Sealer.Open(buf[:0], s, readKeyPurpose)
	if err != nil || len(p) < idSize+8 {
		return readKey{}, false
	}
	return parseReadKey(p[:idSize+8], p[idSize+8:], b.cfg.MachineID), true
}

// parseReadKey reads the id and expiry from head and takes machine as the
// owner's name. A login of this machine (own) shares own's string, so that
// checking a key allocates nothing with FLY_MACHINE_ID set either; only
// another machine's name is copied.
func parseReadKey(head, machine []byte, own string) readKey {
	var k readKey
	copy(k.id[:], head)
	k.expires = time.Unix(0, int64(binary.BigEndian.Uint64(head[idSize:])))
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
	var buf [idSize + 8 + 1 + verifierSize + maxMachineID]byte
	p, nonce, err := b.cfg.Sealer.Open(buf[:0], s, statePurpose)
	if err != nil || len(p) < idSize+8+1 {
		return state{}, false
	}
	n := int(p[idSize+8])
	if n != 0 && n != verifierSize || len(p) < idSize+8+1+n {
		return state{}, false
	}
	st := state{nonce: nonce}
	st.readKey = parseReadKey(p[:idSize+8], p[idSize+8+1+n:], b.cfg.MachineID)
	if n > 0 {
		var v [43]byte // base64url of verifierSize bytes; one copy, as a string
		base64.RawURLEncoding.Encode(v[:], p[idSize+8+1:idSize+8+1+n])
		st.verifier = string(v[:])
	}
	return st, true
}

// lock returns the lock that serialises check-then-set for one login.
func (b *Broker) lock(id loginID) func() {
	m := &b.locks[id[0]%byte(len(b.locks))]
	m.Lock()
	return m.Unlock
}
