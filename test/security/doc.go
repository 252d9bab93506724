// Package security is handoff's attacker's checklist: black-box tests, over
// real HTTP on loopback, that try to break each security property of
// SECURITY.md.
package security
