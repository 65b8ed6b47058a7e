package profiles

import "time"

// TLS configures mutual TLS. With generated certificates (the default when
// enabled) internode and frontend traffic each get their own CA; files given
// under internode/frontend/system-worker/client replace the generated ones.
type TLS struct {
	Enabled bool `koanf:"enabled" json:"enabled"`
	// CertDir keeps generated certificates across restarts (reused while
	// valid for the hosts); empty: a temporary directory removed at exit.
	CertDir string `koanf:"cert-dir" json:"cert-dir"`
	// Validity of generated certificates; default 72h.
	Validity time.Duration `koanf:"validity" json:"validity"`
	// Hosts are extra DNS names or IPs for the server certificates
	// (127.0.0.1, ::1, localhost and the cluster's ip are always in).
	Hosts []string `koanf:"hosts" json:"hosts"`
	// ServerName every client expects in the server certificates; default
	// localhost.
	ServerName string `koanf:"server-name" json:"server-name"`
	// RequireClientAuth makes the frontend and internode servers require
	// client certificates from their CA (mutual TLS); default true. False
	// leaves server-only TLS on the frontend (internode stays mutual).
	RequireClientAuth bool `koanf:"require-client-auth" json:"require-client-auth"`
	// Internode: the certificate services present to each other, and the CA
	// that signs them.
	Internode TLSFiles `koanf:"internode" json:"internode"`
	// Frontend: the frontend's server certificate, and the CA its clients'
	// certificates must chain to.
	Frontend TLSFiles `koanf:"frontend" json:"frontend"`
	// SystemWorker: the client certificate of the server's own worker.
	SystemWorker TLSFiles `koanf:"system-worker" json:"system-worker"`
	// Client: the certificate SDKs, the CLI and the UI present (ca-file is
	// the CA that signed the frontend's certificate).
	Client TLSFiles `koanf:"client" json:"client"`
	// FrontendClientCAFiles are further CAs the frontend accepts client
	// certificates from; not a config key. Start fills it in when
	// tls.frontend is the user's but the system worker's or the client's
	// certificate is generated: the frontend then trusts devcluster's
	// frontend CA too, which alone can issue those.
	FrontendClientCAFiles []string `koanf:"-" json:"-"`
	// VerifyInternodeAddress, set at start for the nodes of a cluster
	// spread over several processes, makes internode clients check the
	// address they dial against the server certificate's SANs (each node's
	// certificate names its own addresses) instead of ServerName.
	VerifyInternodeAddress bool `koanf:"-" json:"-"`
	// PeerHosts, set at start for one of several replicating clusters
	// (bootstrap.StartClusters), are the hosts of the other clusters'
	// frontends: replication to them presents this cluster's system-worker
	// certificate and checks theirs with Client.CAFile, which then holds
	// every cluster's frontend CA.
	PeerHosts []string `koanf:"-" json:"-"`
	// PeerSystemWorkerCerts are the other clusters' system-worker
	// certificates, which this cluster's frontend treats as its own system
	// worker's (an admin without a token: the servers call each other's
	// admin API without one).
	PeerSystemWorkerCerts []string `koanf:"-" json:"-"`
}

// Auth turns on the server's default JWT ClaimMapper and Authorizer with a
// throwaway signing key (kept in tls.cert-dir when set, so tokens outlive a
// restart). It needs tls.enabled: the cluster's own system worker proves
// who it is with its client certificate.
type Auth struct {
	Enabled bool `koanf:"enabled" json:"enabled"`
	// PermissionsClaim is the claim holding "namespace:role" entries;
	// default "permissions".
	PermissionsClaim string `koanf:"permissions-claim" json:"permissions-claim"`
	// Audience, when set, must be in every token's aud claim.
	Audience string `koanf:"audience" json:"audience"`
	// HeaderName carries the token; default "authorization".
	HeaderName string `koanf:"header-name" json:"header-name"`
	// TokenTTL is how long the admin token in the banner lives; default 24h.
	TokenTTL time.Duration `koanf:"token-ttl" json:"token-ttl"`
	// KeyDir is where the signing key and JWKS live; filled in at start.
	KeyDir string `koanf:"key-dir" json:"key-dir"`
}

// TLSFiles are PEM files.
type TLSFiles struct {
	CertFile string `koanf:"cert-file" json:"cert-file"`
	KeyFile  string `koanf:"key-file" json:"key-file"`
	CAFile   string `koanf:"ca-file" json:"ca-file"`
}

// AllFilesGiven reports whether the user named every section's files, so
// that nothing is generated.
func (t TLS) AllFilesGiven() bool {
	return t.Internode.Set() && t.Frontend.Set() && t.SystemWorker.Set() && t.Client.Set()
}

// Set reports whether any file is named.
func (f TLSFiles) Set() bool { return f.CertFile != "" || f.KeyFile != "" || f.CAFile != "" }
