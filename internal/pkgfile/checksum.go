package pkgfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// hashSources returns the SHA-256 of every source's content, in order. Files are hashed on
// several cores and streamed, so memory stays flat whatever their size.
func hashSources(ctx context.Context, srcs []source) ([][sha256.Size]byte, error) {
	sums := make([][sha256.Size]byte, len(srcs))
	var (
		mu       sync.Mutex
		next     int
		firstErr error
		wg       sync.WaitGroup
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next == len(srcs) {
			return -1
		}
		next++
		return next - 1
	}
	for range min(runtime.GOMAXPROCS(0), maxWorkers, len(srcs)) {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			h := sha256.New()
			for i := take(); i >= 0; i = take() {
				err := hashOne(ctx, srcs[i], h, buf)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				h.Sum(sums[i][:0])
			}
		})
	}
	wg.Wait()
	return sums, firstErr
}

func hashOne(ctx context.Context, src source, h hash.Hash, buf []byte) error {
	h.Reset()
	rc, err := src.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = copyChecked(ctx, h, rc, src.name, src.size, buf, nil)
	return err
}

// pluginChecksum computes the reference's plugin checksum: SHA-256 over, for every file in
// byte order of its path, SHA-256(path) followed by SHA-256(content); lower-case hex. It does
// not depend on zip order, compression or timestamps.
func pluginChecksum(ctx context.Context, srcs []source) (string, error) {
	sums, err := hashSources(ctx, srcs)
	if err != nil {
		return "", err
	}
	order := make([]int, len(srcs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(srcs[a].name, srcs[b].name) })
	total := sha256.New()
	for _, i := range order {
		nameSum := sha256.Sum256([]byte(srcs[i].name))
		total.Write(nameSum[:])
		total.Write(sums[i][:])
	}
	return hex.EncodeToString(total.Sum(nil)), nil
}
