import CGcrypt

/// libgcrypt, initialized exactly once per process before any use.
///
/// Every entry point of this module reads `Gcrypt.ready` first; a Swift global is initialized
/// lazily under `swift_once`, so many tasks may race to first use safely.
enum Gcrypt {
    /// The oldest libgcrypt with the SM2/SM3/SM4 behaviour this module relies on.
    static let minimumVersion = "1.10.0"

    static let ready: String = {
        if let failure = omx_gcry_initialize(minimumVersion) {
            preconditionFailure("libgcrypt initialization failed: \(String(cString: failure)) (need ≥ \(minimumVersion))")
        }
        precondition(omx_gcry_has_sm_algorithms() == 1, "this libgcrypt lacks SM2, SM3 or SM4")
        return String(cString: gcry_check_version(nil))
    }()

    /// The libgcrypt error's own words, for `SMCryptoError.library`.
    static func describe(_ error: gcry_error_t) -> String {
        "libgcrypt: \(String(cString: gcry_strerror(error)))"
    }

    static func check(_ error: gcry_error_t, _ what: String) throws(SMCryptoError) {
        if error != 0 { throw SMCryptoError(.library, "\(what): \(describe(error))") }
    }

    /// The low 16 bits of a libgcrypt error are the gpg-error code.
    static func code(_ error: gcry_error_t) -> UInt32 { error & 0xFFFF }
}

public enum SMCrypto {
    /// Initializes libgcrypt (idempotent, thread-safe) and returns its version, for startup logs.
    @discardableResult
    public static func initialize() -> String { Gcrypt.ready }

    /// `count` bytes from libgcrypt's strong random generator (nonces, keys).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0, "a negative byte count is a programming error")
        _ = Gcrypt.ready
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress, count > 0 { gcry_randomize(base, count, GCRY_STRONG_RANDOM) }
            initialized = count
        }
    }
}
