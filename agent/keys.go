package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/keeptrusts/kt/internal/atomicfile"
	"github.com/keeptrusts/kt/internal/layout"
	"github.com/keeptrusts/kt/ledger"
)

// LoadOrCreateSigner reads the signing key at path, or, when there is none,
// generates one (mode 0600) with its public key next to it in path+".pub".
func LoadOrCreateSigner(path, name string, log *slog.Logger) (*ledger.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, gerr := ledger.GenerateKey(rand.Reader, name)
		if gerr != nil {
			return nil, fmt.Errorf("generate signing key: %w", gerr)
		}
		if err := WriteKeyPair(path, skey, vkey); err != nil {
			return nil, err
		}
		log.Info("generated a signing key", "key_file", path, "public_key", vkey)
		b = []byte(skey)
	} else if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	} else if err := CheckPrivateFile(path, "signing key"); err != nil {
		return nil, err
	}
	s, err := ledger.NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := ensurePublicKey(layout.PublicKey(path), s.VerifierKey(), log); err != nil {
		return nil, err
	}
	return s, nil
}

// ensurePublicKey writes the public key file next to a private key when it
// is missing (a crash between the two writes of the first start, or an
// operator's rm), and refuses one that belongs to another key: verifiers
// are handed that file.
func ensurePublicKey(path, vkey string, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := atomicfile.WriteFile(path, []byte(vkey+"\n"), 0o644); err != nil {
			return fmt.Errorf("signing key: write the public key: %w", err)
		}
		log.Warn("the signing key's public key file was missing; written again from the key", "file", path, "public_key", vkey)
		return nil
	case err != nil:
		return fmt.Errorf("signing key: %w", err)
	}
	if got := strings.TrimSpace(string(b)); got != vkey {
		return fmt.Errorf("%s holds %q, which is not the public key of the signing key (%s): remove it and kt writes the right one", path, got, vkey)
	}
	return nil
}

// WriteKeyPair writes a private key (0600) and its public key (path+".pub").
func WriteKeyPair(path, skey, vkey string) error {
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; kt never overwrites a key", path)
	}
	if err := atomicfile.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(layout.PublicKey(path), []byte(vkey+"\n"), 0o644)
}

// LoadOrCreateRedactKey reads the redaction HMAC key (hex), generating 32
// random bytes (mode 0600) on first start.
func LoadOrCreateRedactKey(path string, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := atomicfile.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, err
		}
		log.Info("generated a redaction key", "key_file", path)
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redaction key: %w", err)
	}
	if err := CheckPrivateFile(path, "redaction key"); err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("redaction key %s: want at least 32 bytes as hex", path)
	}
	return key, nil
}

// CheckPrivateFile refuses a private key file that anyone but its owner
// can read or write: whoever can read the signing key can sign a forged
// history, and whoever can read the redaction key can test guesses of
// redacted secrets. what names the file in the error.
func CheckPrivateFile(path, what string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%s %s has mode %04o: group and others must have no access to it; run: chmod 600 %s", what, path, m, path)
	}
	return nil
}

// CheckDataDir refuses a data directory that others than its owner can
// write to: they could replace the ledger, the cursors or the keys kept
// there. It is created (0700, durably) if it does not exist.
func CheckDataDir(dir string) error {
	if err := atomicfile.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if m := st.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("data_dir %s has mode %04o: group and others must not be able to write to it; run: chmod go-w %s (0700 is the default)", dir, m, dir)
	}
	return nil
}

// DefaultKeyName is the name of a generated signing key: "kt-" and the
// host name, so that the key_id of every entry says which host signed it.
func DefaultKeyName() string { return defaultKeyName() }
