package pkgfile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"unicode/utf8"
)

// source is one file to put in a zip: its name, its expected size and how to read it.
type source struct {
	name string
	size int64
	open func() (io.ReadCloser, error)
}

// zipFlateLevel is the level archive/zip's own Deflate compressor uses. The reference
// packager writes with archive/zip, so compressing with the same level gives the same bytes.
const zipFlateLevel = 5

// maxBuffered bounds the bytes of compressed output held in memory while waiting for their
// turn to be written. A file too large for it is compressed straight into the output once all
// files before it are written, so peak memory does not grow with file size.
const maxBuffered = 16 << 20

// maxWorkers caps the compressing goroutines: each holds a ~1 MB deflate state, and eight
// cores already outrun most disks.
const maxWorkers = 8

// smallBuf is the largest buffer kept for reuse; larger ones are left to the GC.
const smallBuf = 1 << 20

type writeOptions struct {
	progress func(done, total int64)
	hash     bool                                           // compute SHA-256 of every source
	comment  func(sums [][sha256.Size]byte) (string, error) // zip comment, decided after all entries
}

// writeZip writes srcs, in order, as a zip that is byte-identical to what archive/zip's
// CreateHeader (Deflate, zero time) writes for the same files one after the other. To use
// more than one core it compresses several files at once into memory and writes them in
// order with CreateRaw; the file whose turn it is is compressed straight into the output.
func writeZip(ctx context.Context, w io.Writer, srcs []source, opt writeOptions) error {
	zp := &zipPipeline{ctx: ctx, zw: zip.NewWriter(w), srcs: srcs, opt: opt, ready: make([]*compressed, len(srcs))}
	zp.cond = sync.NewCond(&zp.mu)
	for _, s := range srcs {
		zp.total += s.size
	}
	if opt.hash {
		zp.sums = make([][sha256.Size]byte, len(srcs))
	}
	workers := min(runtime.GOMAXPROCS(0), maxWorkers, len(srcs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(zp.work)
	}
	wg.Wait()
	if zp.err != nil {
		return zp.err
	}
	if zp.next != len(srcs) {
		return fmt.Errorf("pkgfile: internal error: wrote %d of %d files", zp.next, len(srcs))
	}
	if opt.comment != nil {
		c, err := opt.comment(zp.sums)
		if err != nil {
			return err
		}
		if err := zp.zw.SetComment(c); err != nil {
			return err
		}
	}
	if opt.progress != nil && zp.reported < zp.total {
		opt.progress(zp.total, zp.total)
	}
	return zp.zw.Close()
}

type compressed struct {
	buf  *bytes.Buffer
	crc  uint32
	size int64
	cost int64
}

type zipPipeline struct {
	ctx  context.Context
	zw   *zip.Writer
	srcs []source
	opt  writeOptions
	sums [][sha256.Size]byte

	mu      sync.Mutex
	cond    *sync.Cond
	taken   int           // sources handed to workers
	next    int           // next source to write
	writing bool          // someone holds zw
	used    int64         // bytes of buffered output reserved
	ready   []*compressed // buffered output waiting for its turn
	free    []*bytes.Buffer
	err     error

	// Only the goroutine holding zw touches these.
	total, done, reported int64
}

func (zp *zipPipeline) fail(err error) {
	if zp.err == nil {
		zp.err = err
	}
	zp.cond.Broadcast()
}

func (zp *zipPipeline) work() {
	var fw *flate.Writer
	buf := make([]byte, 64<<10)
	zp.mu.Lock()
	defer zp.mu.Unlock()
	for zp.err == nil && zp.taken < len(zp.srcs) {
		if err := zp.ctx.Err(); err != nil {
			zp.fail(err)
			return
		}
		i := zp.taken
		zp.taken++
		cost := zp.srcs[i].size + zp.srcs[i].size>>10 + 1024 // deflate never grows data by more
		direct := false
		for {
			if zp.err != nil {
				return
			}
			if zp.next == i && !zp.writing {
				zp.writing, direct = true, true
				break
			}
			if cost <= maxBuffered && zp.used+cost <= maxBuffered {
				zp.used += cost
				break
			}
			zp.cond.Wait()
		}
		if direct {
			zp.mu.Unlock()
			err := zp.stream(i, buf)
			zp.mu.Lock()
			if err != nil {
				zp.fail(err)
				return
			}
			zp.next++
			zp.flushLocked()
			continue
		}
		var out *bytes.Buffer
		if n := len(zp.free); n > 0 {
			out, zp.free = zp.free[n-1], zp.free[:n-1]
		} else {
			out = new(bytes.Buffer)
		}
		zp.mu.Unlock()
		if fw == nil {
			fw, _ = flate.NewWriter(nil, zipFlateLevel)
		}
		c, err := zp.compress(i, fw, out, buf)
		zp.mu.Lock()
		if err != nil {
			zp.fail(err)
			return
		}
		c.cost = cost
		zp.ready[i] = c
		if !zp.writing && zp.next == i {
			zp.writing = true
			zp.flushLocked()
		}
	}
}

// flushLocked writes every buffered file whose turn has come, then gives up zw. The caller
// holds mu and zw; mu is released while writing so workers keep compressing.
func (zp *zipPipeline) flushLocked() {
	for zp.err == nil && zp.next < len(zp.srcs) && zp.ready[zp.next] != nil {
		i := zp.next
		c := zp.ready[i]
		zp.ready[i] = nil
		zp.mu.Unlock()
		err := zp.writeRaw(i, c)
		zp.mu.Lock()
		zp.used -= c.cost
		if c.buf.Cap() <= smallBuf && len(zp.free) < 64 {
			c.buf.Reset()
			zp.free = append(zp.free, c.buf)
		}
		if err != nil {
			zp.fail(err)
			break
		}
		zp.next++
		zp.cond.Broadcast()
	}
	zp.writing = false
	zp.cond.Broadcast()
}

// zipHeader is the file header archive/zip's CreateHeader would produce for name with Deflate
// and a zero modification time.
func zipHeader(name string) *zip.FileHeader {
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, CreatorVersion: 20, ReaderVersion: 20, Flags: 0x8}
	if needsUTF8Flag(name) {
		fh.Flags |= 0x800
	}
	return fh
}

// needsUTF8Flag mirrors archive/zip: the UTF-8 flag is set when the name is valid UTF-8 but
// not plain CP-437-compatible ASCII (control characters, "\", "~" and non-ASCII count).
func needsUTF8Flag(name string) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r > 0x7d || r == 0x5c {
			return true
		}
	}
	return false
}

func (zp *zipPipeline) writeRaw(i int, c *compressed) error {
	fh := zipHeader(zp.srcs[i].name)
	fh.CRC32 = c.crc
	fh.CompressedSize64 = uint64(c.buf.Len())
	fh.UncompressedSize64 = uint64(c.size)
	if fh.CompressedSize64 >= 1<<32-1 || fh.UncompressedSize64 >= 1<<32-1 {
		fh.ReaderVersion = 45 // zip64, as archive/zip marks it
	}
	w, err := zp.zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	if _, err := w.Write(c.buf.Bytes()); err != nil {
		return err
	}
	zp.advance(c.size, 0)
	return nil
}

// advance records written bytes and reports progress about once per percent.
func (zp *zipPipeline) advance(n, partial int64) {
	zp.done += n
	if zp.opt.progress == nil {
		return
	}
	now := zp.done + partial
	if now-zp.reported >= max(zp.total/100, 1) || (now == zp.total && zp.reported < zp.total) {
		zp.reported = now
		zp.opt.progress(now, zp.total)
	}
}

func (zp *zipPipeline) compress(i int, fw *flate.Writer, out *bytes.Buffer, buf []byte) (*compressed, error) {
	src := zp.srcs[i]
	out.Grow(int(src.size + src.size>>10 + 64))
	fw.Reset(out)
	crc := crc32.NewIEEE()
	n, err := zp.copySource(i, io.MultiWriter(fw, crc), buf, nil)
	if err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return &compressed{buf: out, crc: crc.Sum32(), size: n}, nil
}

func (zp *zipPipeline) stream(i int, buf []byte) error {
	w, err := zp.zw.CreateHeader(zipHeader(zp.srcs[i].name))
	if err != nil {
		return err
	}
	n, err := zp.copySource(i, w, buf, func(partial int64) { zp.advance(0, partial) })
	if err != nil {
		return err
	}
	zp.advance(n, 0)
	return nil
}

// copySource copies source i to w, checking that it has the size it was listed with (a file
// that changed since Collect must not slip past the size check) and hashing it if asked.
func (zp *zipPipeline) copySource(i int, w io.Writer, buf []byte, onProgress func(int64)) (int64, error) {
	src := zp.srcs[i]
	rc, err := src.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var h hash.Hash
	if zp.sums != nil {
		h = sha256.New()
		w = io.MultiWriter(w, h)
	}
	n, err := copyChecked(zp.ctx, w, rc, src.name, src.size, buf, onProgress)
	if err != nil {
		return n, err
	}
	if h != nil {
		h.Sum(zp.sums[i][:0])
	}
	return n, nil
}

// copyChecked copies exactly size bytes from r to w, failing if r holds more or fewer, and
// stops when ctx is done.
func copyChecked(ctx context.Context, w io.Writer, r io.Reader, name string, size int64, buf []byte, onProgress func(int64)) (int64, error) {
	var n int64
	lr := io.LimitReader(r, size+1)
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := lr.Read(buf)
		if m > 0 {
			n += int64(m)
			if n > size {
				return n, fmt.Errorf("%q grew while being read (expected %d bytes)", name, size)
			}
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			if onProgress != nil {
				onProgress(n)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if n != size {
		return n, fmt.Errorf("%q changed while being read (read %d bytes, expected %d)", name, n, size)
	}
	return n, nil
}

// WriteFiles writes files, in the given order, as a zip with the same deterministic form as
// a package (Deflate at archive/zip's level, zero times): the same files always give the
// same bytes. Bundles are written with it. Names must be clean relative paths.
func WriteFiles(ctx context.Context, w io.Writer, files []File) error {
	srcs := make([]source, len(files))
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		if err := checkName(f.Name, 4096); err != nil {
			return err
		}
		if seen[f.Name] {
			return pkgErr(ErrCorrupt, f.Name, "duplicate entry", nil)
		}
		seen[f.Name] = true
		data := f.Data
		srcs[i] = source{name: f.Name, size: int64(len(data)), open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}}
	}
	return writeZip(ctx, w, srcs, writeOptions{})
}
