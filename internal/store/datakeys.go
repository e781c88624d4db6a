package store

import "time"

// DataKey is one version of a tenant's data key as the vault keeps it: encrypted ("wrapped")
// under a master key, never in clear. MasterKeyID names the master key that wrapped it, so a
// rotation knows which rows are left to re-wrap.
type DataKey struct {
	TenantID    string
	Version     int
	MasterKeyID string
	Wrapped     []byte
	CreatedAt   time.Time
}
