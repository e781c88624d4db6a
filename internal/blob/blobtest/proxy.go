// Package blobtest helps tests of code that uses remote blob stores: a TCP proxy that plays
// the storage server going away in the middle of a transfer.
package blobtest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// CutProxy forwards TCP connections to a server and can play the server going away: once
// armed, after a number of bytes have gone towards the server it closes every connection and
// then refuses new ones (accepts and closes them at once) until the test ends.
type CutProxy struct {
	ln     net.Listener
	target string
	left   atomic.Int64 // bytes towards the server until the cut; <0 when not armed
	dead   atomic.Bool
	sent   atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
}

func NewCutProxy(t testing.TB, target string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &CutProxy{ln: ln, target: target}
	p.left.Store(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.dead.Load() {
				c.Close()
				continue
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		p.cut()
	})
	return p
}

func (p *CutProxy) Addr() string { return p.ln.Addr().String() }

// ArmAfter makes the proxy cut everything once n more bytes went towards the server.
func (p *CutProxy) ArmAfter(n int64) { p.left.Store(n) }

func (p *CutProxy) cut() {
	p.dead.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *CutProxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	if p.dead.Load() {
		p.cut()
		return
	}
	go func() {
		io.Copy(c, up)
		c.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.sent.Add(int64(n))
			if left := p.left.Load(); left >= 0 {
				if p.left.Add(-int64(n)) < 0 {
					p.cut()
					return
				}
			}
			if _, werr := up.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	up.Close()
}

// Sent is the number of bytes that went towards the server.
func (p *CutProxy) Sent() int64 { return p.sent.Load() }
