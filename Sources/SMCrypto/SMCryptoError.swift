/// An operating error of the cryptography: bad input, a failed authentication, an unusable key.
///
/// A struct around a code rather than an enum, so codes can be added without breaking callers;
/// callers compare `error.code` with the static codes. `detail` never contains key material.
public struct SMCryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Bytes that are not the encoding they claim to be (DER, PEM, hex, point).
        public static let malformedEncoding = Code("malformed-encoding")
        /// The encoding ends before its declared content does.
        public static let truncated = Code("truncated")
        /// Bytes follow a complete encoding.
        public static let trailingBytes = Code("trailing-bytes")
        /// A key on another curve, or of another algorithm, than SM2 on sm2p256v1.
        public static let wrongCurve = Code("wrong-curve")
        /// A public point that is not on sm2p256v1 (or has a coordinate ≥ p).
        public static let invalidPoint = Code("invalid-point")
        /// A private scalar outside [1, n−2].
        public static let invalidPrivateKey = Code("invalid-private-key")
        /// A public key that does not belong to the private key it came with.
        public static let keyMismatch = Code("key-mismatch")
        /// A signature component r or s outside [1, n−1].
        public static let signatureOutOfRange = Code("signature-out-of-range")
        /// A key, nonce, IV or tag of the wrong length.
        public static let invalidLength = Code("invalid-length")
        /// Authenticated decryption failed: ciphertext, tag, nonce or associated data was altered.
        public static let authenticationFailed = Code("authentication-failed")
        /// CBC padding that is not PKCS#7.
        public static let invalidPadding = Code("invalid-padding")
        /// A sealed value whose version byte this build does not know.
        public static let unsupportedVersion = Code("unsupported-version")
        /// A distinguishing ID longer than SM2's 16-bit bit-length field allows (8,191 bytes).
        public static let invalidIdentifier = Code("invalid-identifier")
        /// libgcrypt itself failed (not the caller's input).
        public static let library = Code("library")
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code): \(detail)" }
}
