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
	} else if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		log.Warn("signing key file is readable by others; chmod 600 it", "key_file", path, "mode", st.Mode().Perm().String())
	}
	s, err := ledger.NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// WriteKeyPair writes a private key (0600) and its public key (path+".pub").
func WriteKeyPair(path, skey, vkey string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s already exists; kt never overwrites a key", path)
	}
	if err := atomicfile.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(path+".pub", []byte(vkey+"\n"), 0o644)
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
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
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
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("redaction key %s: want at least 32 bytes as hex", path)
	}
	return key, nil
}
