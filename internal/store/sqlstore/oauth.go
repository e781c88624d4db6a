package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/oauth"
)

// OAuth for tools (migration 0007): clients, authorizations under way, connections.

var _ oauth.Store = (*DB)(nil)

// flowsKept is how long a finished or expired flow stays for pollers before it is dropped.
const flowsKept = time.Hour

// PutOAuthClient creates or replaces a client (tenant "" is the system level).
func (db *DB) PutOAuthClient(ctx context.Context, c oauth.StoredClient) error {
	if err := need("put oauth client", "provider", c.Provider); err != nil {
		return fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	body, err := jsonText("client body", c.Body)
	if err != nil {
		return fmt.Errorf("put oauth client: %w: %w", err, catalog.ErrInvalid)
	}
	enabled := 0
	if c.Enabled {
		enabled = 1
	}
	err = db.tx(ctx, func(cn conn) error {
		at := cn.ts(orNow(c.UpdatedAt, now()))
		n, err := cn.exec(ctx, "UPDATE oauth_clients SET enabled = ?, body = ?, sealed = ?, updated_at = ? WHERE tenant_id = ? AND provider = ?",
			enabled, body, nullBytes(c.Sealed), at, c.Tenant, c.Provider)
		if err != nil || n > 0 {
			return err
		}
		_, err = cn.exec(ctx, "INSERT INTO oauth_clients (tenant_id, provider, enabled, body, sealed, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
			c.Tenant, c.Provider, enabled, body, nullBytes(c.Sealed), at)
		if isUniqueViolation(err) {
			return errRetry
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("put oauth client %s: %w", c.Provider, err)
	}
	return nil
}

const oauthClientCols = "tenant_id, provider, enabled, body, sealed, updated_at"

func scanOAuthClient(s rowScanner) (oauth.StoredClient, error) {
	var (
		c       oauth.StoredClient
		enabled int64
	)
	err := s.Scan(&c.Tenant, &c.Provider, &enabled, jsonCol{&c.Body}, &c.Sealed, timeCol{&c.UpdatedAt})
	c.Enabled = enabled != 0
	return c, err
}

// GetOAuthClient reads one client.
func (db *DB) GetOAuthClient(ctx context.Context, tenant, provider string) (oauth.StoredClient, error) {
	c, err := scanOAuthClient(db.read().queryRow(ctx, "SELECT "+oauthClientCols+" FROM oauth_clients WHERE tenant_id = ? AND provider = ?", tenant, provider))
	if isNoRows(err) {
		return c, fmt.Errorf("oauth client %s: %w", provider, catalog.ErrNotFound)
	}
	return c, err
}

// ListOAuthClients lists the clients of one level, by provider.
func (db *DB) ListOAuthClients(ctx context.Context, tenant string) ([]oauth.StoredClient, error) {
	rows, err := db.read().query(ctx, "SELECT "+oauthClientCols+" FROM oauth_clients WHERE tenant_id = ? ORDER BY provider", tenant)
	if err != nil {
		return nil, fmt.Errorf("list oauth clients: %w", err)
	}
	defer rows.Close()
	out := []oauth.StoredClient{}
	for rows.Next() {
		c, err := scanOAuthClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list oauth clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteOAuthClient removes one client.
func (db *DB) DeleteOAuthClient(ctx context.Context, tenant, provider string) error {
	var n int64
	err := db.tx(ctx, func(c conn) error {
		var err error
		n, err = c.exec(ctx, "DELETE FROM oauth_clients WHERE tenant_id = ? AND provider = ?", tenant, provider)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete oauth client %s: %w", provider, err)
	}
	if n == 0 {
		return fmt.Errorf("oauth client %s: %w", provider, catalog.ErrNotFound)
	}
	return nil
}

// CreateOAuthFlow stores a pending flow and drops the flows that ended over an hour ago.
func (db *DB) CreateOAuthFlow(ctx context.Context, f oauth.StoredFlow) error {
	if err := need("create oauth flow", "id", f.ID, "state hash", f.StateHash, "tenant id", f.Tenant, "provider", f.Provider); err != nil {
		return fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	err := db.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, "DELETE FROM oauth_flows WHERE expires_at < ?", c.ts(now().Add(-flowsKept))); err != nil {
			return err
		}
		_, err := c.exec(ctx, "INSERT INTO oauth_flows (id, state_hash, tenant_id, provider, user_id, status, error, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			f.ID, f.StateHash, f.Tenant, f.Provider, f.UserID, f.Status, f.Error, f.Sealed, c.ts(orNow(f.CreatedAt, now())), c.ts(f.ExpiresAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("oauth flow %s exists: %w", f.ID, catalog.ErrConflict)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create oauth flow: %w", err)
	}
	return nil
}

const oauthFlowCols = "id, state_hash, tenant_id, provider, user_id, status, error, sealed, created_at, expires_at"

func scanOAuthFlow(s rowScanner) (oauth.StoredFlow, error) {
	var f oauth.StoredFlow
	err := s.Scan(&f.ID, &f.StateHash, &f.Tenant, &f.Provider, &f.UserID, &f.Status, &f.Error, &f.Sealed, timeCol{&f.CreatedAt}, timeCol{&f.ExpiresAt})
	return f, err
}

// ClaimOAuthFlow moves a pending, unexpired flow to exchanging, once.
func (db *DB) ClaimOAuthFlow(ctx context.Context, stateHash string, at time.Time) (oauth.StoredFlow, error) {
	var f oauth.StoredFlow
	err := db.tx(ctx, func(c conn) error {
		var err error
		f, err = scanOAuthFlow(c.queryRow(ctx, "SELECT "+oauthFlowCols+" FROM oauth_flows WHERE state_hash = ?"+c.forUpdate(), stateHash))
		if isNoRows(err) {
			return fmt.Errorf("oauth state: %w", catalog.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if f.Status != oauth.FlowPending || !at.Before(f.ExpiresAt) {
			return fmt.Errorf("oauth flow %s is %s: %w", f.ID, f.Status, catalog.ErrConflict)
		}
		n, err := c.exec(ctx, "UPDATE oauth_flows SET status = ? WHERE id = ? AND status = ?", oauth.FlowExchanging, f.ID, oauth.FlowPending)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("oauth flow %s was claimed meanwhile: %w", f.ID, catalog.ErrConflict)
		}
		f.Status = oauth.FlowExchanging
		return nil
	})
	return f, err
}

// FinishOAuthFlow records how a claimed flow ended.
func (db *DB) FinishOAuthFlow(ctx context.Context, id, status, errText string) error {
	return db.tx(ctx, func(c conn) error {
		_, err := c.exec(ctx, "UPDATE oauth_flows SET status = ?, error = ? WHERE id = ?", status, errText, id)
		return err
	})
}

// GetOAuthFlow reads a flow of the tenant.
func (db *DB) GetOAuthFlow(ctx context.Context, tenant, id string) (oauth.StoredFlow, error) {
	f, err := scanOAuthFlow(db.read().queryRow(ctx, "SELECT "+oauthFlowCols+" FROM oauth_flows WHERE tenant_id = ? AND id = ?", tenant, id))
	if isNoRows(err) {
		return f, fmt.Errorf("oauth flow %s of tenant %s: %w", id, tenant, catalog.ErrNotFound)
	}
	return f, err
}

// OAuthFlowByState reads the flow of a state.
func (db *DB) OAuthFlowByState(ctx context.Context, stateHash string) (oauth.StoredFlow, error) {
	f, err := scanOAuthFlow(db.read().queryRow(ctx, "SELECT "+oauthFlowCols+" FROM oauth_flows WHERE state_hash = ?", stateHash))
	if isNoRows(err) {
		return f, fmt.Errorf("oauth state: %w", catalog.ErrNotFound)
	}
	return f, err
}

const oauthCredCols = "tenant_id, provider, status, body, sealed, version, updated_at"

func scanOAuthCredential(s rowScanner) (oauth.StoredCredential, error) {
	var c oauth.StoredCredential
	err := s.Scan(&c.Tenant, &c.Provider, &c.Status, jsonCol{&c.Body}, &c.Sealed, &c.Version, timeCol{&c.UpdatedAt})
	return c, err
}

// GetOAuthCredential reads a connection.
func (db *DB) GetOAuthCredential(ctx context.Context, tenant, provider string) (oauth.StoredCredential, error) {
	c, err := scanOAuthCredential(db.read().queryRow(ctx, "SELECT "+oauthCredCols+" FROM oauth_credentials WHERE tenant_id = ? AND provider = ?", tenant, provider))
	if isNoRows(err) {
		return c, fmt.Errorf("oauth connection %s of tenant %s: %w", provider, tenant, catalog.ErrNotFound)
	}
	return c, err
}

// PutOAuthCredential writes a connection with the next version (compare-and-swap when
// expect >= 0).
func (db *DB) PutOAuthCredential(ctx context.Context, cr oauth.StoredCredential, expect int64) (int64, error) {
	if err := need("put oauth credential", "tenant id", cr.Tenant, "provider", cr.Provider, "status", cr.Status); err != nil {
		return 0, fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	body, err := jsonText("credential body", cr.Body)
	if err != nil {
		return 0, fmt.Errorf("put oauth credential: %w: %w", err, catalog.ErrInvalid)
	}
	var version int64
	err = db.tx(ctx, func(c conn) error {
		var cur int64
		err := c.queryRow(ctx, "SELECT version FROM oauth_credentials WHERE tenant_id = ? AND provider = ?"+c.forUpdate(), cr.Tenant, cr.Provider).Scan(&cur)
		exists := err == nil
		if err != nil && !isNoRows(err) {
			return err
		}
		if expect >= 0 && cur != expect {
			return fmt.Errorf("oauth credential %s is at version %d, not %d: %w", cr.Provider, cur, expect, catalog.ErrConflict)
		}
		version = cur + 1
		at := c.ts(orNow(cr.UpdatedAt, now()))
		if exists {
			_, err = c.exec(ctx, "UPDATE oauth_credentials SET status = ?, body = ?, sealed = ?, version = ?, updated_at = ? WHERE tenant_id = ? AND provider = ? AND version = ?",
				cr.Status, body, cr.Sealed, version, at, cr.Tenant, cr.Provider, cur)
			return err
		}
		_, err = c.exec(ctx, "INSERT INTO oauth_credentials (tenant_id, provider, status, body, sealed, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			cr.Tenant, cr.Provider, cr.Status, body, cr.Sealed, version, at)
		if isUniqueViolation(err) {
			return errRetry
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("put oauth credential %s: %w", cr.Provider, err)
	}
	return version, nil
}

// DeleteOAuthCredential forgets a connection.
func (db *DB) DeleteOAuthCredential(ctx context.Context, tenant, provider string) error {
	var n int64
	err := db.tx(ctx, func(c conn) error {
		var err error
		n, err = c.exec(ctx, "DELETE FROM oauth_credentials WHERE tenant_id = ? AND provider = ?", tenant, provider)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete oauth credential %s: %w", provider, err)
	}
	if n == 0 {
		return fmt.Errorf("oauth connection %s of tenant %s: %w", provider, tenant, catalog.ErrNotFound)
	}
	return nil
}

// ListOAuthCredentials lists the tenant's connections, by provider.
func (db *DB) ListOAuthCredentials(ctx context.Context, tenant string) ([]oauth.StoredCredential, error) {
	rows, err := db.read().query(ctx, "SELECT "+oauthCredCols+" FROM oauth_credentials WHERE tenant_id = ? ORDER BY provider", tenant)
	if err != nil {
		return nil, fmt.Errorf("list oauth credentials: %w", err)
	}
	defer rows.Close()
	out := []oauth.StoredCredential{}
	for rows.Next() {
		c, err := scanOAuthCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("list oauth credentials: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
