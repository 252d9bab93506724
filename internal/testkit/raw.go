package testkit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// RawExchange writes raw, byte for byte (no client library normalises it),
// on a fresh connection to addr (host:port, or a base URL http://host:port)
// and reads one answer, all within 30 s. It does not wait for the server to
// take every byte: a server may answer and hang up first (a refused body),
// which a write would report as a broken pipe. A body cut short by the
// server hanging up is returned as far as it came; what comes after the
// first answer is not read.
func RawExchange(addr, raw string) (Response, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		return Response{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go io.WriteString(conn, raw) // may fail once the server has answered
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return Response{}, fmt.Errorf("reading the answer: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}
