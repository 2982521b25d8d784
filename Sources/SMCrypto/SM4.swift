import CGcrypt

/// SM4 (GB/T 32907-2016), the 128-bit block cipher: GCM for secrets at rest, CBC with PKCS#7
/// for exchanging data with systems that only speak CBC.
public enum SM4 {
    public static let keyByteCount = 16
    public static let blockByteCount = 16

    /// The raw block function, for the published test vectors and nothing else: encrypting data
    /// block by block (ECB) leaks its structure.
    public struct BlockCipher: ~Copyable {
        private let cipher: Cipher

        public init(key: [UInt8]) throws(SMCryptoError) {
            cipher = try Cipher(mode: GCRY_CIPHER_MODE_ECB, key: key)
        }

        public func encrypt(_ block: [UInt8]) throws(SMCryptoError) -> [UInt8] {
            guard block.count == SM4.blockByteCount else {
                throw SMCryptoError(.invalidLength, "an SM4 block is 16 bytes, not \(block.count)")
            }
            return try cipher.encrypt(block)
        }
    }

    /// SM4-GCM (RFC 8998): 12-byte nonce, associated data, 16-byte tag.
    public enum GCM {
        public static let nonceByteCount = 12
        public static let tagByteCount = 16

        public static func encrypt(
            key: [UInt8], nonce: [UInt8], plaintext: [UInt8], associatedData: [UInt8] = []
        ) throws(SMCryptoError) -> (ciphertext: [UInt8], tag: [UInt8]) {
            let cipher = try start(key: key, nonce: nonce, associatedData: associatedData)
            let ciphertext = try cipher.encrypt(plaintext)
            return (ciphertext, try cipher.tag())
        }

        /// Returns the plaintext only when the tag matches; libgcrypt writes plaintext before it
        /// checks the tag, so the output is held back (and wiped) until the check passes.
        public static func decrypt(
            key: [UInt8], nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8], associatedData: [UInt8] = []
        ) throws(SMCryptoError) -> [UInt8] {
            // libgcrypt accepts truncated tags; a short tag would make forgery cheaper.
            guard tag.count == tagByteCount else {
                throw SMCryptoError(.invalidLength, "an SM4-GCM tag is 16 bytes, not \(tag.count)")
            }
            let cipher = try start(key: key, nonce: nonce, associatedData: associatedData)
            var plaintext = try cipher.decrypt(ciphertext)
            guard cipher.checkTag(tag) else {
                for index in plaintext.indices { plaintext[index] = 0 }
                throw SMCryptoError(.authenticationFailed, "the ciphertext, tag, nonce or associated data was altered")
            }
            return plaintext
        }

        private static func start(key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws(SMCryptoError) -> Cipher {
            guard nonce.count == nonceByteCount else {
                throw SMCryptoError(.invalidLength, "an SM4-GCM nonce is 12 bytes, not \(nonce.count)")
            }
            let cipher = try Cipher(mode: GCRY_CIPHER_MODE_GCM, key: key)
            try cipher.setIV(nonce)
            try cipher.authenticate(associatedData)
            return cipher
        }
    }

    /// SM4-CBC with PKCS#7 padding. Unauthenticated, and its padding check is not constant-time:
    /// never decrypt attacker-supplied CBC data without first checking a MAC over it. Use only
    /// where the other side requires CBC.
    public enum CBC {
        public static func encrypt(key: [UInt8], iv: [UInt8], plaintext: [UInt8]) throws(SMCryptoError) -> [UInt8] {
            let cipher = try start(key: key, iv: iv)
            let padding = SM4.blockByteCount - plaintext.count % SM4.blockByteCount
            return try cipher.encrypt(plaintext + [UInt8](repeating: UInt8(padding), count: padding))
        }

        public static func decrypt(key: [UInt8], iv: [UInt8], ciphertext: [UInt8]) throws(SMCryptoError) -> [UInt8] {
            guard !ciphertext.isEmpty, ciphertext.count % SM4.blockByteCount == 0 else {
                throw SMCryptoError(
                    .invalidLength, "SM4-CBC ciphertext is a positive multiple of 16 bytes, not \(ciphertext.count)")
            }
            var padded = try start(key: key, iv: iv).decrypt(ciphertext)
            let padding = Int(padded.last!)
            guard (1...SM4.blockByteCount).contains(padding), padded.suffix(padding).allSatisfy({ $0 == UInt8(padding) }) else {
                for index in padded.indices { padded[index] = 0 }
                throw SMCryptoError(
                    .invalidPadding, "the decrypted data does not end in PKCS#7 padding (wrong key or IV, or altered)")
            }
            return Array(padded.dropLast(padding))
        }

        private static func start(key: [UInt8], iv: [UInt8]) throws(SMCryptoError) -> Cipher {
            guard iv.count == SM4.blockByteCount else {
                throw SMCryptoError(.invalidLength, "an SM4-CBC IV is 16 bytes, not \(iv.count)")
            }
            let cipher = try Cipher(mode: GCRY_CIPHER_MODE_CBC, key: key)
            try cipher.setIV(iv)
            return cipher
        }
    }

    /// A secret at rest: `version ‖ nonce(12) ‖ ciphertext ‖ tag(16)` under SM4-GCM with a fresh
    /// random nonce per seal. The version byte is authenticated too (it is prefixed to the
    /// associated data), so a later format cannot be confused with this one.
    public enum Sealed {
        public static let version: UInt8 = 1
        public static let overheadByteCount = 1 + GCM.nonceByteCount + GCM.tagByteCount

        public static func seal(key: [UInt8], plaintext: [UInt8], associatedData: [UInt8] = []) throws(SMCryptoError) -> [UInt8] {
            let nonce = SMCrypto.randomBytes(GCM.nonceByteCount)
            let (ciphertext, tag) = try GCM.encrypt(
                key: key, nonce: nonce, plaintext: plaintext, associatedData: [version] + associatedData)
            return [version] + nonce + ciphertext + tag
        }

        public static func open(key: [UInt8], sealed: [UInt8], associatedData: [UInt8] = []) throws(SMCryptoError) -> [UInt8] {
            guard sealed.count >= overheadByteCount else {
                throw SMCryptoError(.truncated, "a sealed value is at least \(overheadByteCount) bytes, not \(sealed.count)")
            }
            guard sealed[0] == version else {
                throw SMCryptoError(
                    .unsupportedVersion, "sealed-value version \(sealed[0]) is unknown (this build reads \(version))")
            }
            let nonce = Array(sealed[1..<(1 + GCM.nonceByteCount)])
            let ciphertext = Array(sealed[(1 + GCM.nonceByteCount)..<(sealed.count - GCM.tagByteCount)])
            let tag = Array(sealed.suffix(GCM.tagByteCount))
            return try GCM.decrypt(
                key: key, nonce: nonce, ciphertext: ciphertext, tag: tag, associatedData: [version] + associatedData)
        }
    }
}

/// One libgcrypt SM4 cipher handle, closed when it goes away.
private final class Cipher {
    private let handle: OpaquePointer

    init(mode: gcry_cipher_modes, key: [UInt8]) throws(SMCryptoError) {
        _ = Gcrypt.ready
        guard key.count == SM4.keyByteCount else {
            throw SMCryptoError(.invalidLength, "an SM4 key is 16 bytes, not \(key.count)")
        }
        var handle: gcry_cipher_hd_t?
        try Gcrypt.check(gcry_cipher_open(&handle, Int32(GCRY_CIPHER_SM4.rawValue), Int32(mode.rawValue), 0), "cipher open")
        self.handle = handle!
        try Gcrypt.check(key.withUnsafeBytes { gcry_cipher_setkey(self.handle, $0.baseAddress, $0.count) }, "set key")
    }

    deinit { gcry_cipher_close(handle) }

    func setIV(_ iv: [UInt8]) throws(SMCryptoError) {
        try Gcrypt.check(iv.withUnsafeBytes { gcry_cipher_setiv(handle, $0.baseAddress, $0.count) }, "set IV")
    }

    func authenticate(_ data: [UInt8]) throws(SMCryptoError) {
        guard !data.isEmpty else { return }
        try Gcrypt.check(data.withUnsafeBytes { gcry_cipher_authenticate(handle, $0.baseAddress, $0.count) }, "authenticate")
    }

    func encrypt(_ input: [UInt8]) throws(SMCryptoError) -> [UInt8] { try transform(input, encrypting: true) }
    func decrypt(_ input: [UInt8]) throws(SMCryptoError) -> [UInt8] { try transform(input, encrypting: false) }

    func tag() throws(SMCryptoError) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: SM4.GCM.tagByteCount)
        try Gcrypt.check(tag.withUnsafeMutableBytes { gcry_cipher_gettag(handle, $0.baseAddress, $0.count) }, "get tag")
        return tag
    }

    func checkTag(_ tag: [UInt8]) -> Bool {
        tag.withUnsafeBytes { gcry_cipher_checktag(handle, $0.baseAddress, $0.count) } == 0
    }

    private func transform(_ input: [UInt8], encrypting: Bool) throws(SMCryptoError) -> [UInt8] {
        try Gcrypt.check(omx_cipher_final(handle), "finalize")
        guard !input.isEmpty else { return [] }
        var status: gcry_error_t = 0
        let output = [UInt8](unsafeUninitializedCapacity: input.count) { buffer, initialized in
            status = input.withUnsafeBytes { source in
                encrypting
                    ? gcry_cipher_encrypt(handle, buffer.baseAddress, buffer.count, source.baseAddress, source.count)
                    : gcry_cipher_decrypt(handle, buffer.baseAddress, buffer.count, source.baseAddress, source.count)
            }
            initialized = input.count
        }
        try Gcrypt.check(status, encrypting ? "encrypt" : "decrypt")
        return output
    }
}
