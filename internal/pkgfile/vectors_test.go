package pkgfile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

const vectors = "../../testdata/vectors/"

const (
	vec1Checksum     = "20a6b69bf49ca85b63f1f3ac3dbd0afd1a640025a9fabb4c4646f823e18d0ed5"
	vec1SHA256       = "926b4f079f00aa82c1c6e58220ea7b1527a35ba7b8fd9d782d8eee5cd436d8b6"
	officialChecksum = "26958a0e80a10655ce73812bdb7c35a66ce7b16f5ac346d298bda17ff85efd1e"
)

// TestVec1Bytes is the compatibility acceptance test: packaging the fixture must give the
// reference packager's bytes exactly.
func TestVec1Bytes(t *testing.T) {
	ctx := context.Background()
	tree, err := Collect(ctx, vectors+"echo-fixture")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tree.Entries()); n != 11 {
		t.Errorf("fixture: %d entries, want 11: %v", n, tree.Entries())
	}
	var buf bytes.Buffer
	if err := tree.WriteZip(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(vectors + "vec1.difypkg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("package bytes differ from vec1.difypkg (sha256 %x)", sha256.Sum256(buf.Bytes()))
	}
	if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != vec1SHA256 {
		t.Fatalf("sha256 %x", sum)
	}
	sum, err := tree.Checksum(ctx)
	if err != nil || sum != vec1Checksum {
		t.Fatalf("folder checksum %s, %v; want %s", sum, err, vec1Checksum)
	}
}

func TestVectorChecksums(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"vec1.difypkg", vec1Checksum},
		{"official/langgenius-agent_0.0.14.difypkg", officialChecksum},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := Open(vectors+tc.file, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			got, err := p.Checksum(context.Background())
			if err != nil || got != tc.want {
				t.Fatalf("checksum %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}
