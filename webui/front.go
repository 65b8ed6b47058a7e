package webui

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/devcluster/devcluster/internal/oserr"
)

// CookieName is the cookie that keeps a browser signed in to a UI with
// auth: the token itself, HttpOnly, Secure and SameSite=Strict, until the
// token expires.
const CookieName = "devcluster-ui-token"

const (
	// tokenParam is the query parameter that signs a browser in.
	tokenParam = "token"
	// tokenHeader carries a token verified from the cookie to the
	// ui-server, whose API middleware sends it on to the frontend (see
	// callerToken). It is not Authorization because the ui-server skips
	// its CSRF check for requests with one, which is right for a header a
	// script sets and wrong for a cookie a browser sends by itself.
	tokenHeader = "X-Devcluster-Ui-Token"
	// sessionToken is the access token the UI's own script holds for a
	// browser signed in by the cookie. The UI's settings say auth is on
	// (which it is), and its script then sends every page to an OIDC login
	// unless it holds a user with an access token, which it reads from the
	// ui-server's "user0" cookie and sends back as "Authorization: Bearer".
	// The real token stays in the HttpOnly cookie, out of the script's
	// reach; the front takes this one as "use the cookie".
	sessionToken = "devcluster-ui-session"
	// userCookie is the ui-server's cookie of a signed-in user, read by the
	// UI's script (not HttpOnly).
	userCookie = "user0"
)

// front is the UI's public listener with auth on: HTTPS, a token on every
// request, and a reverse proxy to the ui-server on 127.0.0.1.
type front struct {
	path   string // the UI's public path, without a trailing slash
	ln     net.Listener
	srv    *http.Server
	proxy  *httputil.ReverseProxy
	verify func(string) (time.Time, error)
}

// newFront binds the public address (so a port in use is an error of
// Start) and loads the server certificate.
func newFront(cfg Config, upstream string) (*front, error) {
	cert, err := tls.LoadX509KeyPair(cfg.Auth.CertFile, cfg.Auth.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("UI certificate %s: %w", cfg.Auth.CertFile, err)
	}
	addr := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("UI port %s: %w", addr, oserr.Cause(err))
	}
	errLog := log.New(io.Discard, "", 0)
	if cfg.Logger != nil {
		errLog = slog.NewLogLogger(cfg.Logger.With("component", "webui").Handler(), slog.LevelDebug)
	}
	target := &url.URL{Scheme: "http", Host: upstream}
	f := &front{ln: ln, verify: cfg.Auth.Verify, path: strings.TrimSuffix(cfg.PublicPath, "/")}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			if f.isSettings(pr.In) {
				pr.Out.Header.Del("Accept-Encoding") // rewritten: see authOn
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode != http.StatusOK || !f.isSettings(resp.Request) {
				return nil
			}
			return authOn(resp)
		},
		ErrorLog: errLog,
	}
	f.srv = &http.Server{
		Handler:           f,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errLog, // a refused TLS handshake is not worth a line on stderr
	}
	return f, nil
}

// serve serves until close; it returns nil then.
func (f *front) serve() error {
	if err := f.srv.ServeTLS(f.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// close closes the listener and every connection.
func (f *front) close() {
	_ = f.srv.Close()
	_ = f.ln.Close() // when serve never ran
}

// ServeHTTP signs a browser in (?token=), or checks the request's token and
// proxies it to the ui-server with that token; /healthz needs none.
func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Header.Del(tokenHeader) // only the front sets it
	if r.URL.Path == "/healthz" {
		f.proxy.ServeHTTP(w, r)
		return
	}
	if q := r.URL.Query(); q.Has(tokenParam) {
		f.signIn(w, r, q)
		return
	}
	if r.URL.Path == f.path+"/auth/logout" {
		f.signOut(w, r)
		return
	}
	var tok string
	fromCookie := false
	if h := r.Header.Get("Authorization"); strings.EqualFold(h, "Bearer "+sessionToken) {
		// The UI's script on a browser signed in by the cookie: the cookie
		// decides, and the ui-server's CSRF check applies as to any
		// request the cookie carries.
		r.Header.Del("Authorization")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || t == "" {
			refuse(w, r, "the Authorization header is not \"Bearer TOKEN\"")
			return
		}
		tok = t
	} else if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		tok, fromCookie = c.Value, true
	}
	if tok == "" {
		refuse(w, r, "the request carries no token")
		return
	}
	expires, err := f.verify(tok)
	if err != nil {
		if fromCookie {
			clearCookies(w)
		}
		refuse(w, r, "the token is refused: "+err.Error())
		return
	}
	if fromCookie {
		dropCookie(r, CookieName) // the ui-server has no use for it
		r.Header.Set(tokenHeader, tok)
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, f.path+"/api/") {
			// A page: the script reads (and then deletes) the user.
			http.SetCookie(w, sessionUser(expires))
		}
	}
	f.proxy.ServeHTTP(w, r)
}

// signIn verifies the token of a ?token= URL, keeps it in the cookie and
// redirects to the same URL without it (so it leaves the address bar).
func (f *front) signIn(w http.ResponseWriter, r *http.Request, q url.Values) {
	tok := q.Get(tokenParam)
	expires, err := f.verify(tok)
	if err != nil {
		refuse(w, r, "the token in the URL is refused: "+err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", Expires: expires,
		MaxAge: max(1, int(time.Until(expires).Seconds())), HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	q.Del(tokenParam)
	// One leading slash: "//host/..." would send the browser to another host.
	loc := "/" + strings.TrimLeft(r.URL.EscapedPath(), "/\\")
	if len(q) > 0 {
		loc += "?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, loc, http.StatusSeeOther)
}

// isSettings reports a request for the UI's settings.
func (f *front) isSettings(r *http.Request) bool {
	return r != nil && r.Method == http.MethodGet && r.URL.Path == f.path+"/api/v1/settings"
}

// authOn rewrites the ui-server's settings to say what is true behind the
// front: auth is on. The ui-server itself runs with its auth off (its own
// auth is an OIDC sign-in, which would need an identity provider): the
// front signs people in, and the frontend's authorizer decides.
func authOn(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	var settings map[string]any
	if err := json.Unmarshal(body, &settings); err != nil {
		return fmt.Errorf("the UI's settings: %w", err)
	}
	a, _ := settings["Auth"].(map[string]any)
	if a == nil {
		a = map[string]any{}
	}
	a["Enabled"] = true
	settings["Auth"] = a
	if body, err = json.Marshal(settings); err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// sessionUser is the ui-server's user cookie holding sessionToken, which
// the UI's script reads: base64 of its JSON, padded so the encoding needs
// no "=" (the script splits cookies at "=").
func sessionUser(expires time.Time) *http.Cookie {
	b, _ := json.Marshal(map[string]string{"AccessToken": sessionToken, "Name": "devcluster token"})
	for len(b)%3 != 0 {
		b = append(b, ' ')
	}
	return &http.Cookie{Name: userCookie, Value: base64.StdEncoding.EncodeToString(b), Path: "/", Expires: expires,
		MaxAge: max(1, int(time.Until(expires).Seconds())), Secure: true, SameSite: http.SameSiteStrictMode}
}

// clearCookies ends a browser's sign-in: the token's cookie and the UI's
// user.
func clearCookies(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: userCookie, Path: "/", MaxAge: -1, Secure: true, SameSite: http.SameSiteStrictMode})
}

// signOut is the UI's "log out": the browser forgets its token.
func (f *front) signOut(w http.ResponseWriter, r *http.Request) {
	clearCookies(w)
	refuse(w, r, "signed out")
}

// dropCookie removes the cookie name from r's Cookie header.
func dropCookie(r *http.Request, name string) {
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if c.Name != name {
			r.AddCookie(c)
		}
	}
}

// refuse answers 401 with how to sign in.
func refuse(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("WWW-Authenticate", `Bearer realm="devcluster"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	host := r.Host
	if host == "" {
		host = "HOST:PORT"
	}
	fmt.Fprintf(w, `401 Unauthorized: %s.

This devcluster runs with auth on, so its Web UI needs a token.
Sign in by opening the Web UI URL the start banner printed (it ends in ?token=...),
or mint a token and open the UI with it:

  devcluster token --cert-dir DIR --namespace NAMESPACE --role read
  https://%s/?token=TOKEN

Scripts may send the token in an "Authorization: Bearer TOKEN" header instead.
`, why, host)
}
