package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrSizeMismatch: the reader given to Put held more or fewer bytes than the size it was given with.
var ErrSizeMismatch = errors.New("blob: size mismatch")

// body is the reader both stores upload from. It stops at the first read after ctx ends, and,
// when the size is known, fails unless the source holds exactly that many bytes. The failure
// comes before the last bytes are handed on, so whatever consumes the body (a file copy, an
// HTTP request) never sees a complete object and never commits one. Errors are sticky: once
// failed, every later read returns the same error, so a consumer that drops an error returned
// together with data still meets it on its next read.
type body struct {
	ctx  context.Context
	src  io.Reader
	size int64 // -1: unknown
	n    int64 // bytes handed on so far
	err  error
}

// checkPut refuses a Put before anything is written or sent: a size below -1 (-1 is
// "unknown"), or a context that has already ended.
func checkPut(ctx context.Context, key string, size int64) error {
	if size < -1 {
		return fmt.Errorf("blob: put %q: invalid size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	return nil
}

func newBody(ctx context.Context, src io.Reader, size int64) *body {
	return &body{ctx: ctx, src: src, size: size}
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return 0, err
	}
	if b.size < 0 {
		n, err := b.src.Read(p)
		b.n += int64(n)
		if err != nil && err != io.EOF {
			b.err = err
		}
		return n, err
	}
	left := b.size - b.n
	if left == 0 {
		if err := b.checkEnd(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.src.Read(p)
	if n == int(left) {
		// The last expected bytes: make sure nothing follows before handing them on.
		if err := b.checkEnd(); err != nil {
			return 0, err
		}
		b.n += int64(n)
		return n, io.EOF
	}
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.err = fmt.Errorf("%w: the data ended after %d of %d bytes", ErrSizeMismatch, b.n, b.size)
		if n > 0 {
			return n, nil // the error comes with the next read
		}
		return 0, b.err
	case err != nil:
		b.err = err
		if n > 0 {
			return n, nil
		}
		return 0, err
	}
	return n, nil
}

// checkEnd reads past the expected size and fails if the source has more.
func (b *body) checkEnd() error {
	var one [1]byte
	for range 100 {
		n, err := b.src.Read(one[:])
		if n > 0 {
			b.err = fmt.Errorf("%w: the data is longer than the %d bytes given as its size", ErrSizeMismatch, b.size)
			return b.err
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			b.err = err
			return err
		}
	}
	b.err = fmt.Errorf("blob: the source returned no data and no end 100 times after %d bytes", b.n)
	return b.err
}

// failure picks the most telling cause when an upload from b failed with err: the caller's
// context, then the body's own error (a size mismatch or the source's read error, which a
// consumer may have wrapped beyond recognition), then err itself.
func (b *body) failure(err error) error {
	if cerr := b.ctx.Err(); cerr != nil {
		return cerr
	}
	if b.err != nil {
		return b.err
	}
	return err
}
