import CGcrypt

/// SM3 (GB/T 32905-2016): the 256-bit hash of transaction ids, Merkle trees and block headers.
public enum SM3 {
    public static let digestByteCount = 32
    static let algorithm = Int32(GCRY_MD_SM3.rawValue)

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        _ = Gcrypt.ready
        return [UInt8](unsafeUninitializedCapacity: digestByteCount) { digest, initialized in
            gcry_md_hash_buffer(algorithm, digest.baseAddress, bytes.baseAddress, bytes.count)
            initialized = digestByteCount
        }
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { hash($0) } }

    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }
}

/// SM3 over data that arrives in pieces (files, streamed exports). Not copyable: it owns a
/// libgcrypt handle, closed when the hasher is consumed or goes out of scope.
public struct SM3Hasher: ~Copyable {
    private let handle: gcry_md_hd_t

    public init() {
        _ = Gcrypt.ready
        var handle: gcry_md_hd_t?
        let error = gcry_md_open(&handle, SM3.algorithm, 0)
        precondition(error == 0 && handle != nil, "gcry_md_open(SM3) failed: \(Gcrypt.describe(error))")
        self.handle = handle!
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, !bytes.isEmpty { gcry_md_write(handle, base, bytes.count) }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public consuming func finalize() -> [UInt8] { digest(handle) }

    deinit { gcry_md_close(handle) }
}

/// HMAC-SM3 (RFC 2104 with SM3): keyed integrity for values that must not be forged.
public struct HMACSM3: ~Copyable {
    private let handle: gcry_md_hd_t

    public init(key: [UInt8]) {
        _ = Gcrypt.ready
        var handle: gcry_md_hd_t?
        var error = gcry_md_open(&handle, SM3.algorithm, UInt32(GCRY_MD_FLAG_HMAC.rawValue))
        precondition(error == 0 && handle != nil, "gcry_md_open(HMAC-SM3) failed: \(Gcrypt.describe(error))")
        error = key.withUnsafeBytes { gcry_md_setkey(handle, $0.baseAddress, $0.count) }
        precondition(error == 0, "gcry_md_setkey failed: \(Gcrypt.describe(error))")
        self.handle = handle!
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, !bytes.isEmpty { gcry_md_write(handle, base, bytes.count) }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public consuming func finalize() -> [UInt8] { digest(handle) }

    /// The 32-byte authentication code of `message` under `key`.
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var mac = HMACSM3(key: key)
        mac.update(message)
        return mac.finalize()
    }

    deinit { gcry_md_close(handle) }
}

private func digest(_ handle: gcry_md_hd_t) -> [UInt8] {
    guard let result = gcry_md_read(handle, SM3.algorithm) else { preconditionFailure("gcry_md_read returned no digest") }
    return Array(UnsafeBufferPointer(start: result, count: SM3.digestByteCount))
}
