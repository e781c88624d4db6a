package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/signature"
)

func newSignatureCmd(env Env) *cobra.Command {
	c := groupCmd("signature", "Generate keys, sign packages and verify signatures")
	c.AddCommand(newSignatureGenerateCmd(), newSignatureSignCmd(), newSignatureVerifyCmd())
	return c
}

func newSignatureGenerateCmd() *cobra.Command {
	var (
		name   string
		bits   int
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "generate",
		Short: "Generate an RSA key pair: <name>.private.pem (mode 0600) and <name>.public.pem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bits < 2048 {
				return usageError{fmt.Errorf("--bits %d is too weak: use at least 2048 (the reference uses 4096)", bits)}
			}
			key, err := signature.GenerateKeyPair(bits)
			if err != nil {
				return err
			}
			priv, pub, err := signature.WriteKeyPair(key, name)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"private_key": priv, "public_key": pub})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "private key: %s (keep it secret)\npublic key:  %s\n", priv, pub)
			return nil
		},
	}
	c.Flags().StringVarP(&name, "filename", "f", "dify_plugin_signing_key", "file name prefix of the key pair")
	c.Flags().IntVar(&bits, "bits", 4096, "RSA key size")
	c.Flags().BoolVar(&asJSON, "json", false, "print the written paths as JSON")
	return c
}

func newSignatureSignCmd() *cobra.Command {
	var (
		keyPath, category, output string
		asJSON                    bool
	)
	c := &cobra.Command{
		Use:   "sign PKG",
		Short: "Sign a package; writes <name>.signed.difypkg next to it",
		Long: "Sign a package with an RSA private key, the reference scheme: the signature and time in the\n" +
			"zip comment, the authorized category in .verification.dify.json. A signed package can be\n" +
			"signed again; the old signature is replaced.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if keyPath == "" {
				return usageError{errors.New("missing --private_key (-p): the PEM file made by `signature generate`")}
			}
			cat, err := signature.ParseCategory(category)
			if err != nil {
				return usageError{err}
			}
			keyPEM, err := os.ReadFile(keyPath)
			if err != nil {
				return err
			}
			key, err := signature.ParsePrivateKey(keyPEM)
			if err != nil {
				return fmt.Errorf("%s: %w", keyPath, err)
			}
			pkg, err := pkgfile.Open(args[0], pkgfile.DefaultLimits())
			if err != nil {
				return err
			}
			defer pkg.Close()
			if output == "" {
				ext := filepath.Ext(args[0])
				output = strings.TrimSuffix(args[0], ext) + ".signed" + ext
			}
			if err := pkgfile.WriteFileAtomic(output, func(w io.Writer) error {
				return signature.Sign(ctx, pkg, w, key, cat, time.Now())
			}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"output": output, "authorized_category": string(cat)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (authorized category %s)\n", output, cat)
			return nil
		},
	}
	c.Flags().StringVarP(&keyPath, "private_key", "p", "", "RSA private key (PEM)")
	c.Flags().StringVarP(&category, "authorized_category", "c", "langgenius", "langgenius, partner or community")
	c.Flags().StringVarP(&output, "output_path", "o", "", "signed package to write (default <name>.signed.difypkg next to the input)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

func newSignatureVerifyCmd() *cobra.Command {
	var (
		keys   []string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "verify PKG",
		Short: "Verify a package's signature against public keys; exits 1 when it does not verify",
		Long: "Verify a package's signature. -p takes a public key file (PEM) or a folder of *.pem keys and\n" +
			"may be repeated; the package verifies when any of them matches. Without -p, Dify's official\n" +
			"key (built in) is used, as the reference CLI does.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			trusted := []signature.TrustedKey{signature.Official()}
			if len(keys) > 0 {
				var err error
				if trusted, err = signature.LoadTrustedKeys(keys...); err != nil {
					return err
				}
			}
			pkg, err := pkgfile.Open(args[0], pkgfile.DefaultLimits())
			if err != nil {
				return err
			}
			defer pkg.Close()
			res, verr := signature.Verify(ctx, pkg, trusted)
			out := struct {
				Path                string `json:"path"`
				Verified            bool   `json:"verified"`
				Error               string `json:"error,omitempty"`
				Key                 string `json:"key,omitempty"`
				AuthorizedCategory  string `json:"authorized_category,omitempty"`
				HasVerificationFile bool   `json:"has_verification_file"`
				SignedAt            string `json:"signed_at,omitempty"`
			}{Path: args[0], Verified: verr == nil}
			if verr != nil {
				out.Error = verr.Error()
			} else {
				out.Key, out.AuthorizedCategory, out.HasVerificationFile = res.KeyName, string(res.Category), res.HasVerificationFile
				out.SignedAt = res.Time.UTC().Format(time.RFC3339)
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
				if verr != nil {
					return silentError{verr}
				}
				return nil
			}
			if verr != nil {
				return fmt.Errorf("%s: verification failed: %w", args[0], verr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified: %s signed at %s by %s, authorized category %s\n", args[0], out.SignedAt, out.Key, out.AuthorizedCategory)
			return nil
		},
	}
	c.Flags().StringArrayVarP(&keys, "public_key", "p", nil, "trusted public key (PEM file) or folder of *.pem keys; repeatable (default: Dify's official key)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}
