#include "CGcrypt.h"

#include <string.h>

/* Secure memory pool for secret scalars; it grows on demand when many signatures run at once. */
#define OMX_SECMEM_BYTES (1u << 20)

const char *omx_gcry_initialize(const char *minimum_version) {
    if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
        return NULL;
    }
    /* Must precede gcry_check_version: with the default RNG SM2 signing is RNG-bound (~200/s). */
    gcry_control(GCRYCTL_SET_PREFERRED_RNG_TYPE, GCRY_RNG_TYPE_FIPS);
    if (!gcry_check_version(minimum_version)) {
        return "libgcrypt is older than required";
    }
    gcry_control(GCRYCTL_SUSPEND_SECMEM_WARN);
    gcry_control(GCRYCTL_INIT_SECMEM, OMX_SECMEM_BYTES, 0);
    gcry_control(GCRYCTL_AUTO_EXPAND_SECMEM, OMX_SECMEM_BYTES, 0);
    gcry_control(GCRYCTL_RESUME_SECMEM_WARN);
    /* Without mlock rights (non-root) the pool is ordinary memory; say nothing on every use. */
    gcry_control(GCRYCTL_DISABLE_SECMEM_WARN);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    return NULL;
}

int omx_gcry_has_sm_algorithms(void) {
    return gcry_md_test_algo(GCRY_MD_SM3) == 0 && gcry_cipher_test_algo(GCRY_CIPHER_SM4) == 0 &&
           gcry_pk_test_algo(GCRY_PK_ECC) == 0;
}

gcry_error_t omx_cipher_final(gcry_cipher_hd_t handle) { return gcry_cipher_final(handle); }

static gcry_error_t scan_unsigned(gcry_mpi_t *out, const unsigned char *bytes, size_t length) {
    return gcry_mpi_scan(out, GCRYMPI_FMT_USG, bytes, length, NULL);
}

/* The scalar as an MPI moved into secure memory, which keeps scalar multiplication on libgcrypt's
 * constant-time path (libgcrypt 1.10 has no public call to scan straight into secure memory). */
static gcry_error_t secret_scalar(gcry_mpi_t *out, const unsigned char d[32]) {
    gcry_error_t err = scan_unsigned(out, d, 32);
    if (!err) gcry_mpi_set_flag(*out, GCRYMPI_FLAG_SECURE);
    return err;
}

gcry_error_t omx_sm2_private_key(gcry_sexp_t *out, const unsigned char q[65], const unsigned char d[32]) {
    gcry_mpi_t secret = NULL;
    gcry_error_t err = secret_scalar(&secret, d);
    if (!err) err = gcry_sexp_build(out, NULL, "(private-key (ecc (curve sm2p256v1) (q %b) (d %M)))", 65, q, secret);
    gcry_mpi_release(secret);
    return err;
}

gcry_error_t omx_sm2_public_key(gcry_sexp_t *out, const unsigned char q[65]) {
    return gcry_sexp_build(out, NULL, "(public-key (ecc (curve sm2p256v1) (q %b)))", 65, q);
}

static gcry_error_t sm2_data(gcry_sexp_t *out, const unsigned char e[32]) {
    return gcry_sexp_build(out, NULL, "(data (flags sm2) (hash sm3 %b))", 32, e);
}

/* Writes the MPI of the first `(name value)` list in `sexp` as 32 big-endian bytes. */
static gcry_error_t extract_fixed32(gcry_sexp_t sexp, const char *name, unsigned char out[32]) {
    gcry_sexp_t token = gcry_sexp_find_token(sexp, name, 0);
    if (!token) {
        return gcry_error(GPG_ERR_INV_SEXP);
    }
    gcry_mpi_t value = gcry_sexp_nth_mpi(token, 1, GCRYMPI_FMT_USG);
    gcry_sexp_release(token);
    if (!value) {
        return gcry_error(GPG_ERR_INV_SEXP);
    }
    size_t written = 0;
    gcry_error_t err = gcry_mpi_print(GCRYMPI_FMT_USG, out, 32, &written, value);
    gcry_mpi_release(value);
    if (err) {
        return err;
    }
    memmove(out + (32 - written), out, written);
    memset(out, 0, 32 - written);
    return 0;
}

gcry_error_t omx_sm2_sign(gcry_sexp_t key, const unsigned char e[32], unsigned char r[32], unsigned char s[32]) {
    gcry_sexp_t data = NULL, signature = NULL;
    gcry_error_t err = sm2_data(&data, e);
    if (!err) err = gcry_pk_sign(&signature, data, key);
    if (!err) {
        gcry_sexp_t algorithm = gcry_sexp_find_token(signature, "sm2", 0);
        if (!algorithm) err = gcry_error(GPG_ERR_WRONG_PUBKEY_ALGO);
        gcry_sexp_release(algorithm);
    }
    if (!err) err = extract_fixed32(signature, "r", r);
    if (!err) err = extract_fixed32(signature, "s", s);
    gcry_sexp_release(data);
    gcry_sexp_release(signature);
    return err;
}

gcry_error_t omx_sm2_verify(gcry_sexp_t key, const unsigned char e[32], const unsigned char r[32],
                            const unsigned char s[32]) {
    gcry_sexp_t data = NULL, signature = NULL;
    gcry_mpi_t rm = NULL, sm = NULL;
    gcry_error_t err = sm2_data(&data, e);
    if (!err) err = scan_unsigned(&rm, r, 32);
    if (!err) err = scan_unsigned(&sm, s, 32);
    if (!err) err = gcry_sexp_build(&signature, NULL, "(sig-val (sm2 (r %M) (s %M)))", rm, sm);
    if (!err) err = gcry_pk_verify(signature, data, key);
    gcry_mpi_release(rm);
    gcry_mpi_release(sm);
    gcry_sexp_release(data);
    gcry_sexp_release(signature);
    return err;
}

static gcry_error_t print_fixed32(gcry_mpi_t value, unsigned char out[32]) {
    size_t written = 0;
    gcry_error_t err = gcry_mpi_print(GCRYMPI_FMT_USG, out, 32, &written, value);
    if (err) return err;
    memmove(out + (32 - written), out, written);
    memset(out, 0, 32 - written);
    return 0;
}

gcry_error_t omx_sm2_public_from_private(const unsigned char d[32], unsigned char q[65]) {
    gcry_ctx_t ctx = NULL;
    gcry_mpi_t secret = NULL, x = gcry_mpi_new(256), y = gcry_mpi_new(256);
    gcry_mpi_point_t g = NULL, point = gcry_mpi_point_new(0);
    gcry_error_t err = gcry_mpi_ec_new(&ctx, NULL, "sm2p256v1");
    if (!err) err = secret_scalar(&secret, d);
    if (!err) {
        g = gcry_mpi_ec_get_point("g", ctx, 1);
        if (!g) err = gcry_error(GPG_ERR_BAD_CRYPT_CTX);
    }
    if (!err) {
        gcry_mpi_ec_mul(point, secret, g, ctx);
        if (gcry_mpi_ec_get_affine(x, y, point, ctx)) err = gcry_error(GPG_ERR_INV_OBJ);
    }
    if (!err) {
        q[0] = 0x04;
        err = print_fixed32(x, q + 1);
    }
    if (!err) err = print_fixed32(y, q + 33);
    gcry_mpi_point_release(g);
    gcry_mpi_point_release(point);
    gcry_mpi_release(secret);
    gcry_mpi_release(x);
    gcry_mpi_release(y);
    gcry_ctx_release(ctx);
    return err;
}

int omx_sm2_point_on_curve(const unsigned char x[32], const unsigned char y[32]) {
    gcry_ctx_t ctx = NULL;
    gcry_mpi_t xm = NULL, ym = NULL;
    int result = -1;
    if (gcry_mpi_ec_new(&ctx, NULL, "sm2p256v1") == 0 && scan_unsigned(&xm, x, 32) == 0 &&
        scan_unsigned(&ym, y, 32) == 0) {
        gcry_mpi_point_t point = gcry_mpi_point_set(NULL, xm, ym, GCRYMPI_CONST_ONE);
        result = gcry_mpi_ec_curve_point(point, ctx) ? 1 : 0;
        gcry_mpi_point_release(point);
    }
    gcry_mpi_release(xm);
    gcry_mpi_release(ym);
    gcry_ctx_release(ctx);
    return result;
}

gcry_error_t omx_bench_raw_sign(gcry_sexp_t key, const unsigned char e[32]) {
    gcry_sexp_t data = NULL, signature = NULL;
    gcry_error_t err = sm2_data(&data, e);
    if (!err) err = gcry_pk_sign(&signature, data, key);
    gcry_sexp_release(data);
    gcry_sexp_release(signature);
    return err;
}
