package inmem

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Codec transforms every persisted byte of WAL records (their writesets) and
// snapshots (each block). Encode and Decode append to dst and must be safe
// for concurrent use. ID names the codec and its key in the MANIFEST: a
// database opens only with the codec it was created with.
type Codec interface {
	ID() string
	Encode(dst, src []byte) ([]byte, error)
	Decode(dst, src []byte) ([]byte, error)
}

type identity struct{}

// IdentityCodec returns the default codec, which stores bytes as they are.
func IdentityCodec() Codec { return identity{} }

func (identity) ID() string                             { return "identity" }
func (identity) Encode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
func (identity) Decode(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }

type aesGCM struct {
	aead cipher.AEAD
	id   string
}

// NewAESGCMCodec returns a codec that encrypts with AES-256-GCM under a
// 32-byte key. Each encoding carries a random 96-bit nonce and the GCM tag.
// Its ID holds a short fingerprint of the key, so opening a database with
// the wrong key fails with ErrCodecMismatch rather than with corruption.
func NewAESGCMCodec(key []byte) (Codec, error) {
	if len(key) != 32 {
		return nil, invalidf("AES-256-GCM needs a 32-byte key, got %d bytes", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("in-mem key fingerprint\x00"), key...))
	return &aesGCM{aead: aead, id: "aes-256-gcm:" + hex.EncodeToString(sum[:4])}, nil
}

func (c *aesGCM) ID() string { return c.id }

func (c *aesGCM) Encode(dst, src []byte) ([]byte, error) {
	ns := c.aead.NonceSize()
	start := len(dst)
	dst = append(dst, make([]byte, ns)...)
	if _, err := rand.Read(dst[start:]); err != nil {
		return nil, fmt.Errorf("inmem: nonce: %w", err)
	}
	return c.aead.Seal(dst, dst[start:start+ns], src, nil), nil
}

var errDecrypt = errors.New("inmem: decryption failed")

func (c *aesGCM) Decode(dst, src []byte) ([]byte, error) {
	ns := c.aead.NonceSize()
	if len(src) < ns+c.aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is too short", errDecrypt, len(src))
	}
	out, err := c.aead.Open(dst, src[:ns], src[ns:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDecrypt, err)
	}
	return out, nil
}
