package console

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Users are the console's accounts: name -> bcrypt hash.
type Users map[string][]byte

// ReadUsers reads a users file: one "name:bcrypt-hash" a line (the format of `htpasswd -B`,
// and of `plugd console passwd`); blank lines and lines starting with # are skipped. A
// missing file is no accounts. Anything else wrong is an error naming the file and line.
func ReadUsers(path string) (Users, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Users{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseUsers(f, path)
}

// ParseUsers reads the users file format from r; name is used in errors.
func ParseUsers(r io.Reader, name string) (Users, error) {
	users := Users{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want name:bcrypt-hash", name, n)
		}
		if err := checkUserName(user); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: the hash is not bcrypt (%v); make one with `plugd console passwd` or `htpasswd -B`", name, n, user, err)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q appears twice", name, n, user)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return users, nil
}

func checkUserName(user string) error {
	if len(user) > 64 {
		return fmt.Errorf("user name longer than 64 bytes")
	}
	for _, r := range user {
		if r <= ' ' || r == ':' || r == 0x7f {
			return fmt.Errorf("user name %q: no spaces, colons or control characters", user)
		}
	}
	return nil
}

// SetPassword returns the users file's text with user's password set to password (added
// when missing), keeping the other lines.
func SetPassword(file []byte, user, password string) ([]byte, error) {
	return setPassword(file, user, password, bcrypt.DefaultCost)
}

func setPassword(file []byte, user, password string, cost int) ([]byte, error) {
	if err := checkUserName(user); err != nil {
		return nil, err
	}
	if len(password) < 8 {
		return nil, errors.New("the password must have at least 8 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, err // e.g. longer than bcrypt's 72 bytes
	}
	var out []string
	found := false
	for _, line := range strings.Split(strings.TrimRight(string(file), "\n"), "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && name == user {
			line, found = user+":"+string(hash), true
		}
		if line != "" || len(out) > 0 {
			out = append(out, line)
		}
	}
	if !found {
		out = append(out, user+":"+string(hash))
	}
	return []byte(strings.Join(out, "\n") + "\n"), nil
}

// session is one login.
type session struct {
	user    string // "" for the server key
	csrf    string
	expires time.Time
}

// sessions are kept in memory: a restart logs everybody out, which for an operator's console
// is a fair price for having no session table to secure and expire.
type sessions struct {
	mu  sync.Mutex
	m   map[string]session
	now func() time.Time
	ttl time.Duration
}

func newSessions(now func() time.Time, ttl time.Duration) *sessions {
	return &sessions{m: map[string]session{}, now: now, ttl: ttl}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(user string) (id string, sess session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m { // expired ones go when someone logs in
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	id = randomToken()
	sess = session{user: user, csrf: randomToken(), expires: now.Add(s.ttl)}
	s.m[id] = sess
	return id, sess
}

func (s *sessions) get(id string) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok || s.now().After(v.expires) {
		delete(s.m, id)
		return session{}, false
	}
	return v, true
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// loginLimiter allows 5 login attempts at once per client address, then one every 12 s, so
// a password cannot be guessed at speed; addresses are forgotten after an idle quarter hour.
type loginLimiter struct {
	mu  sync.Mutex
	m   map[string]*limitEntry
	now func() time.Time
}

type limitEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{m: map[string]*limitEntry{}, now: now}
}

func (l *loginLimiter) allow(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.m) > 10000 {
		for k, e := range l.m {
			if now.Sub(e.seen) > 15*time.Minute {
				delete(l.m, k)
			}
		}
	}
	e, ok := l.m[host]
	if !ok {
		e = &limitEntry{lim: rate.NewLimiter(rate.Every(12*time.Second), 5)}
		l.m[host] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}

const cookieName = "plugd_console"

// authenticate checks a user name and password: an empty name means the server key.
func (c *Console) authenticate(user, password string) bool {
	if user == "" {
		key := []byte(c.cfg.ServerKey)
		return len(key) > 0 && subtle.ConstantTimeCompare([]byte(password), key) == 1
	}
	hash, ok := c.cfg.Users[user]
	if !ok {
		// Spend the same time as a real check, so response times do not tell which names exist.
		_ = bcrypt.CompareHashAndPassword(c.dummyHash, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// dummyHashFor makes the hash an unknown user's password is checked against: of the same
// cost as the accounts' own, so both take as long.
func dummyHashFor(users Users) []byte {
	cost := bcrypt.DefaultCost
	for _, h := range users {
		if c, err := bcrypt.Cost(h); err == nil {
			cost = c
		}
		break
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password"), cost)
	return h
}

func (c *Console) secure(r *http.Request) bool { return c.cfg.SecureCookies || r.TLS != nil }

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "login.html", page{Title: "Log in", Data: loginData{Next: safeNext(r.URL.Query().Get("next")), Users: len(c.cfg.Users) > 0}})
}

type loginData struct {
	Next  string
	User  string
	Users bool
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.Contains(next, "//") || strings.Contains(next, "\\") || strings.Contains(next, "/..") {
		return Prefix + "/"
	}
	return next
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the login form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	user, password := strings.TrimSpace(r.PostForm.Get("user")), r.PostForm.Get("password")
	data := loginData{Next: safeNext(r.PostForm.Get("next")), User: user, Users: len(c.cfg.Users) > 0}
	if !c.limiter.allow(r.RemoteAddr) {
		w.Header().Set("Retry-After", "12")
		c.render(w, http.StatusTooManyRequests, "login.html", page{Title: "Log in", Error: "Too many login attempts from your address: wait a few seconds and try again.", Data: data})
		return
	}
	if !c.authenticate(user, password) {
		c.log.Warn("console login failed", "user", user, "remote", r.RemoteAddr)
		c.render(w, http.StatusUnauthorized, "login.html", page{Title: "Log in", Error: "Wrong user name or password (leave the user empty to log in with the server key).", Data: data})
		return
	}
	id, _ := c.sessions.create(user)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: int(c.cfg.SessionTTL.Seconds())})
	c.log.Info("console login", "user", user, "remote", r.RemoteAddr)
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.delete(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: -1})
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// authed is a handler given the request's session.
type authed func(w http.ResponseWriter, r *http.Request, s session)

// auth admits requests with a live session; a state-changing one must also carry the
// session's CSRF token (form field csrf or header X-CSRF-Token), besides passing the
// cross-origin check every request gets.
func (c *Console) auth(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s session
		ok := false
		if ck, err := r.Cookie(cookieName); err == nil {
			s, ok = c.sessions.get(ck.Value)
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Prefix+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in (or the session ended): log in again", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
				http.Error(w, "a multipart form is accepted only by the upload", http.StatusUnsupportedMediaType)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "the form could not be read: "+err.Error(), http.StatusBadRequest)
				return
			}
			token := r.Header.Get("X-CSRF-Token")
			if token == "" {
				token = r.PostForm.Get("csrf")
			}
			if !equalToken(token, s.csrf) {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

const maxFormBody = 16 << 20 // an OpenAPI description pasted into a form can be large

func equalToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// authNoBody is auth for a handler that reads its own body (the upload): it checks the
// session only; the handler must check the CSRF token.
func (c *Console) authNoBody(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s session
		ok := false
		if ck, err := r.Cookie(cookieName); err == nil {
			s, ok = c.sessions.get(ck.Value)
		}
		if !ok {
			http.Error(w, "not logged in (or the session ended): log in again", http.StatusUnauthorized)
			return
		}
		h(w, r, s)
	}
}
