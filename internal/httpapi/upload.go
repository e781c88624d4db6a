package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/install"
)

// multipartSlack is what a multipart body may hold beyond the package: boundaries, part
// headers and the verify_signature field.
const multipartSlack = 1 << 20

// errTooLarge marks a package that went past MaxPackageSize while being read.
var errTooLarge = errors.New("package too large")

// capReader passes on at most n bytes of r and fails, rather than ends, when r has more:
// a truncated package must not look like a whole one.
type capReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		var one [1]byte
		k, err := io.ReadFull(c.r, one[:])
		if k > 0 {
			c.exceeded = true
			return 0, errTooLarge
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	return k, err
}

// uploadPackage serves install/upload/package: a multipart form with the package in dify_pkg
// and verify_signature. The package streams from the request to the Installer; only when
// verify_signature comes after the file (no known client does that) is it spooled to a
// temporary file first, because the Installer needs the flag before the bytes.
func (s *Server) uploadPackage(w http.ResponseWriter, r *http.Request) {
	limit := s.cfg.MaxPackageSize
	dec, err := s.readUpload(w, r, limit, func(ctx context.Context, pkg io.Reader, verify bool) (install.Decoded, error) {
		return s.cfg.Installer.Upload(ctx, r.PathValue("tenant_id"), pkg, verify)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, dec)
}

type uploadFunc func(ctx context.Context, pkg io.Reader, verify bool) (install.Decoded, error)

// readUpload parses the multipart body and calls upload with the package part.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, limit int64, upload uploadFunc) (install.Decoded, error) {
	var none install.Decoded
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return none, badRequest("expected a multipart/form-data body with the package in field dify_pkg")
	}
	body := http.MaxBytesReader(w, r.Body, limit+multipartSlack)
	mr := multipart.NewReader(body, params["boundary"])
	tooLarge := badRequest("package is larger than the limit of %d bytes (MAX_PLUGIN_PACKAGE_SIZE)", limit)

	verify, verifySeen := false, false
	var spool *os.File
	defer func() {
		if spool != nil {
			spool.Close()
			os.Remove(spool.Name())
		}
	}()
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return none, tooLarge
			}
			return none, badRequest("malformed multipart body: %v", err)
		}
		switch part.FormName() {
		case "verify_signature":
			v, err := io.ReadAll(io.LimitReader(part, 16))
			if err != nil {
				return none, badRequest("reading field verify_signature: %v", err)
			}
			val := strings.TrimSpace(string(v))
			if val == "" {
				verify = false
			} else if verify, err = strconv.ParseBool(val); err != nil {
				return none, badRequest("field verify_signature=%q must be true or false", truncate(val, 16))
			}
			verifySeen = true
		case "dify_pkg":
			if spool != nil {
				return none, badRequest("field dify_pkg appears more than once")
			}
			pkg := &capReader{r: part, n: limit}
			if verifySeen {
				dec, err := upload(r.Context(), pkg, verify)
				if pkg.exceeded {
					return none, tooLarge
				}
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return none, tooLarge
				}
				return dec, err
			}
			if spool, err = os.CreateTemp("", "plugd-upload-*.difypkg"); err != nil {
				return none, fmt.Errorf("spooling the upload: %w", err)
			}
			if _, err := io.Copy(spool, pkg); err != nil {
				if pkg.exceeded {
					return none, tooLarge
				}
				return none, badRequest("reading field dify_pkg: %v", err)
			}
		default:
			// Unknown fields are skipped; the body limit bounds them.
			if _, err := io.Copy(io.Discard, part); err != nil {
				return none, badRequest("reading field %q: %v", truncate(part.FormName(), 64), err)
			}
		}
	}
	if spool == nil {
		return none, badRequest("field dify_pkg is missing: send the package as a multipart file")
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return none, fmt.Errorf("spooling the upload: %w", err)
	}
	return upload(r.Context(), spool, verify)
}

// uploadBundle answers install/upload/bundle. Bundles list other packages to fetch from
// GitHub and the Marketplace; plugd does not read them yet.
func (s *Server) uploadBundle(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, badRequest("bundles are not supported yet; upload the packages one by one"))
}
