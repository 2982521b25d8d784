/* CGcrypt: libgcrypt (libgcrypt20-dev) for Swift, plus the few helpers Swift cannot call itself.
 *
 * gcry_control and gcry_sexp_build are variadic and several gcry_*_test_algo are macros, so
 * Swift cannot reach them; the omx_* functions below wrap exactly those uses and nothing else.
 */
#ifndef CGCRYPT_H
#define CGCRYPT_H

#include <gcrypt.h>
#include <stddef.h>

/* Initializes libgcrypt once for the process: FIPS RNG (SM2 signing scales across cores with it),
 * version check, secure memory, initialization finished. Returns NULL on success, else a reason.
 * Not thread-safe by itself: Swift calls it from a lazily initialized global (swift_once). */
const char *omx_gcry_initialize(const char *minimum_version);

/* 1 when libgcrypt was built with SM3/SM4/SM2 (the Debian build is). */
int omx_gcry_has_sm_algorithms(void);

/* GCRYCTL_FINALIZE for a cipher handle (gcry_cipher_final is a macro). */
gcry_error_t omx_cipher_final(gcry_cipher_hd_t handle);

/* Key s-expressions for sm2p256v1. `q` is the uncompressed point 04||x||y (65 bytes), `d` the
 * 32-byte big-endian private scalar. */
gcry_error_t omx_sm2_private_key(gcry_sexp_t *out, const unsigned char q[65], const unsigned char d[32]);
gcry_error_t omx_sm2_public_key(gcry_sexp_t *out, const unsigned char q[65]);

/* SM2 signature over an already computed e = SM3(Z_A || M): `(flags sm2)` makes libgcrypt use
 * SM2 instead of silently producing ECDSA. r and s come back left-padded to 32 bytes. */
gcry_error_t omx_sm2_sign(gcry_sexp_t key, const unsigned char e[32], unsigned char r[32], unsigned char s[32]);

/* 0 when (r, s) is a valid signature of e, GPG_ERR_BAD_SIGNATURE when not, another code on error. */
gcry_error_t omx_sm2_verify(gcry_sexp_t key, const unsigned char e[32], const unsigned char r[32],
                            const unsigned char s[32]);

/* Q = d·G on sm2p256v1, as 04||x||y. */
gcry_error_t omx_sm2_public_from_private(const unsigned char d[32], unsigned char q[65]);

/* 1 when the affine point (x, y) satisfies the sm2p256v1 equation, 0 when not, -1 on error. The
 * caller has already checked x, y < p. */
int omx_sm2_point_on_curve(const unsigned char x[32], const unsigned char y[32]);

/* The raw libgcrypt path the benchmark compares our API against: a data s-expression with `e`
 * signed or verified directly, with no Z_A, no encoding, no checks. */
gcry_error_t omx_bench_raw_sign(gcry_sexp_t key, const unsigned char e[32]);

#endif
