package sqlstore

import "github.com/plugd/plugd/internal/store/sqlstore/sqltext"

// PostgresDSN builds a postgres:// URL from the daemon's separate settings (the reference's
// DB_HOST, DB_PORT, DB_USERNAME, DB_PASSWORD, DB_DATABASE, DB_SSL_MODE, DB_EXTRAS), escaping each
// part so passwords with @, / or ? survive. Empty parts are left out; a port <= 0 means the
// default. A host starting with / is a unix socket folder. extras are server run-time options, as
// the reference passes them: PostgreSQL's `options` startup parameter (e.g. "-c search_path=plugd").
func PostgresDSN(host string, port int, user, password, database, sslMode, extras string) string {
	return sqltext.PostgresDSN(host, port, user, password, database, sslMode, extras)
}
