// File: core/crypto.h
//
// The few cryptographic primitives Nexus needs, on OpenSSL 3 (EVP and one-shot HMAC only).
// RandomBytes draws from the OS CSPRNG via RAND_bytes and aborts if it is unavailable (a process
// that cannot make secrets must not hand out predictable ones). All functions are thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace nexus::core {

// `count` bytes from the CSPRNG.
std::string RandomBytes(size_t count);

// Lowercase hex of raw bytes.
std::string HexEncode(std::string_view bytes);

// URL-safe base64 without padding (RFC 4648 §5).
std::string Base64UrlEncode(std::string_view bytes);

// SHA-256 of `data`, as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view data);

// SHA-256 over data fed in pieces (an upload as it streams in).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  // The digest of everything fed, as 64 lowercase hex characters. Call once.
  std::string FinishHex();

 private:
  void* context_;  // EVP_MD_CTX, kept out of this header
};

// HMAC-SHA256(key, message), as 64 lowercase hex characters.
std::string HmacSha256Hex(std::string_view key, std::string_view message);

// Compares without an early exit, so the time taken does not reveal where two secrets differ.
// Strings of different length compare unequal (their lengths are not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace nexus::core
