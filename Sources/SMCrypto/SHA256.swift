import CGcrypt

/// SHA-256 through libgcrypt: not used to sign or chain anything (that is SM3), but the hash of
/// published RFC 6962 / RFC 9162 test vectors, so the Merkle code can be checked against them.
public enum SHA256 {
    public static let digestByteCount = 32

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        _ = Gcrypt.ready
        return bytes.withUnsafeBytes { input in
            [UInt8](unsafeUninitializedCapacity: digestByteCount) { digest, initialized in
                gcry_md_hash_buffer(Int32(GCRY_MD_SHA256.rawValue), digest.baseAddress, input.baseAddress, input.count)
                initialized = digestByteCount
            }
        }
    }
}
