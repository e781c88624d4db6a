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
	var dec install.Decoded
	part := uploadPart{field: "dify_pkg", what: "package", limit: s.cfg.MaxPackageSize, setting: "MAX_PLUGIN_PACKAGE_SIZE"}
	err := s.readUpload(w, r, part, func(ctx context.Context, pkg io.Reader, verify bool) (err error) {
		dec, err = s.cfg.Installer.Upload(ctx, r.PathValue("tenant_id"), pkg, verify)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, dec)
}

// uploadBundle serves install/upload/bundle: the same form with the bundle in dify_bundle.
// The answer lists the bundle's dependencies for Dify to install: packages the bundle held
// (now uploaded) by unique identifier, Marketplace and GitHub ones by where to fetch them.
func (s *Server) uploadBundle(w http.ResponseWriter, r *http.Request) {
	var deps []install.BundleDependency
	part := uploadPart{field: "dify_bundle", what: "bundle", limit: s.cfg.MaxBundleSize, setting: "MAX_BUNDLE_PACKAGE_SIZE"}
	err := s.readUpload(w, r, part, func(ctx context.Context, b io.Reader, verify bool) (err error) {
		deps, err = s.cfg.Installer.UploadBundle(ctx, r.PathValue("tenant_id"), b, verify)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if deps == nil {
		deps = []install.BundleDependency{}
	}
	ok(w, deps)
}

// uploadPart describes the file field of an upload form.
type uploadPart struct {
	field   string // dify_pkg or dify_bundle
	what    string // package or bundle, for messages
	limit   int64
	setting string // the setting that sets limit
}

type uploadFunc func(ctx context.Context, file io.Reader, verify bool) error

// readUpload parses the multipart body and calls upload with the file part.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, up uploadPart, upload uploadFunc) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return badRequest("expected a multipart/form-data body with the %s in field %s", up.what, up.field)
	}
	body := http.MaxBytesReader(w, r.Body, up.limit+multipartSlack)
	mr := multipart.NewReader(body, params["boundary"])
	tooLarge := badRequest("%s is larger than the limit of %d bytes (%s)", up.what, up.limit, up.setting)

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
				return tooLarge
			}
			return badRequest("malformed multipart body: %v", err)
		}
		switch part.FormName() {
		case "verify_signature":
			v, err := io.ReadAll(io.LimitReader(part, 16))
			if err != nil {
				return badRequest("reading field verify_signature: %v", err)
			}
			val := strings.TrimSpace(string(v))
			if val == "" {
				verify = false
			} else if verify, err = strconv.ParseBool(val); err != nil {
				return badRequest("field verify_signature=%q must be true or false", truncate(val, 16))
			}
			verifySeen = true
		case up.field:
			if spool != nil {
				return badRequest("field %s appears more than once", up.field)
			}
			file := &capReader{r: part, n: up.limit}
			if verifySeen {
				err := upload(r.Context(), file, verify)
				if file.exceeded {
					return tooLarge
				}
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return tooLarge
				}
				return err
			}
			if spool, err = os.CreateTemp("", "plugd-upload-*"); err != nil {
				return fmt.Errorf("spooling the upload: %w", err)
			}
			if _, err := io.Copy(spool, file); err != nil {
				if file.exceeded {
					return tooLarge
				}
				return badRequest("reading field %s: %v", up.field, err)
			}
		default:
			// Unknown fields are skipped; the body limit bounds them.
			if _, err := io.Copy(io.Discard, part); err != nil {
				return badRequest("reading field %q: %v", truncate(part.FormName(), 64), err)
			}
		}
	}
	if spool == nil {
		return badRequest("field %s is missing: send the %s as a multipart file", up.field, up.what)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spooling the upload: %w", err)
	}
	return upload(r.Context(), spool, verify)
}
