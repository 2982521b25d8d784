import CGcrypt

/// SM2 digital signatures (GB/T 32918.2-2016) on the recommended curve sm2p256v1.
///
/// libgcrypt does not compute Z_A: this module does, so that e = SM3(Z_A ‖ M) as the standard
/// and OpenSSL require, and hands libgcrypt e with `(flags sm2)`.
public enum SM2 {
    /// The distinguishing ID GB/T 35276 names as the default ("1234567812345678"). OpenSSL 3.0's
    /// default is the empty string, so its command line needs `-sigopt distid:1234567812345678`.
    public static let defaultID: [UInt8] = Array("1234567812345678".utf8)
    /// The longest ID whose bit length fits SM2's 16-bit ENTL field.
    public static let identifierByteCountMax = 8191

    static let p = hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF")
    static let a = hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
    static let b = hex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
    static let n = hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123")
    static let gx = hex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
    static let gy = hex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")

    /// Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A): binds a signature to the signer's
    /// identity and public key.
    public static func identityHash(publicKey: SM2PublicKey, id: [UInt8]) throws(SMCryptoError) -> [UInt8] {
        try identityHash(point: publicKey.x963Representation, id: id)
    }

    static func identityHash(point: [UInt8], id: [UInt8]) throws(SMCryptoError) -> [UInt8] {
        guard id.count <= identifierByteCountMax else {
            throw SMCryptoError(
                .invalidIdentifier, "the distinguishing ID is \(id.count) bytes; at most \(identifierByteCountMax)")
        }
        let bitCount = id.count * 8
        return SM3.hash([UInt8(bitCount >> 8), UInt8(bitCount & 0xFF)] + id + a + b + gx + gy + point[1...])
    }

    /// e = SM3(Z_A ‖ M), the value that is actually signed.
    public static func messageDigest(identityHash: [UInt8], message: [UInt8]) -> [UInt8] {
        var hasher = SM3Hasher()
        hasher.update(identityHash)
        hasher.update(message)
        return hasher.finalize()
    }

    private static func hex(_ text: String) -> [UInt8] {
        do { return try Hex.decode(text) } catch { preconditionFailure("bad curve constant \(text)") }
    }
}

/// An SM2 public key: a point on sm2p256v1, checked on the way in.
public struct SM2PublicKey: Sendable, Hashable {
    /// The uncompressed point, 04 ‖ x ‖ y (65 bytes).
    public let x963Representation: [UInt8]
    private let defaultIdentityHash: [UInt8]
    let sexp: Sexp

    public init(x963Representation point: [UInt8]) throws(SMCryptoError) {
        guard point.count == 65 else {
            throw SMCryptoError(.invalidPoint, "an uncompressed sm2p256v1 point is 65 bytes, not \(point.count)")
        }
        guard point[0] == 0x04 else { throw SMCryptoError(.invalidPoint, "only uncompressed points (04 ‖ x ‖ y) are accepted") }
        let x = Array(point[1...32])
        let y = Array(point[33...64])
        guard BigEndian.less(x, SM2.p), BigEndian.less(y, SM2.p) else {
            throw SMCryptoError(.invalidPoint, "a coordinate is not below the field prime p")
        }
        _ = Gcrypt.ready
        switch omx_sm2_point_on_curve(x, y) {
        case 1: break
        case 0: throw SMCryptoError(.invalidPoint, "the point is not on sm2p256v1")
        default: throw SMCryptoError(.library, "libgcrypt could not check the point")
        }
        var handle: gcry_sexp_t?
        try Gcrypt.check(omx_sm2_public_key(&handle, point), "public key")
        x963Representation = point
        sexp = Sexp(handle!)
        defaultIdentityHash = try SM2.identityHash(point: point, id: SM2.defaultID)
    }

    /// A SubjectPublicKeyInfo (RFC 5480) with id-ecPublicKey and the sm2p256v1 curve OID.
    public init(derRepresentation der: [UInt8]) throws(SMCryptoError) {
        var outer = DERReader(der)
        var info = DERReader(try outer.read(DER.sequence, "SubjectPublicKeyInfo"))
        try outer.expectEnd("SubjectPublicKeyInfo")
        try readAlgorithm(&info)
        let bits = try info.read(DER.bitString, "subjectPublicKey")
        try info.expectEnd("subjectPublicKey")
        guard bits.first == 0 else { throw SMCryptoError(.malformedEncoding, "subjectPublicKey has unused bits") }
        try self.init(x963Representation: Array(bits.dropFirst()))
    }

    /// `-----BEGIN PUBLIC KEY-----`, as `openssl pkey -pubout` writes it.
    public init(pemRepresentation pem: String) throws(SMCryptoError) {
        let (label, der) = try PEM.decode(pem)
        guard label == "PUBLIC KEY" else { throw SMCryptoError(.malformedEncoding, "expected a PUBLIC KEY PEM block") }
        try self.init(derRepresentation: der)
    }

    public var derRepresentation: [UInt8] {
        DER.sequence(
            DER.sequence(DER.tlv(DER.objectIdentifier, DER.ecPublicKeyOID), DER.tlv(DER.objectIdentifier, DER.sm2CurveOID)),
            DER.tlv(DER.bitString, [0] + x963Representation))
    }

    public var pemRepresentation: String { PEM.encode(label: "PUBLIC KEY", der: derRepresentation) }

    /// Z_A for `id` (cached for the default ID).
    public func identityHash(id: [UInt8] = SM2.defaultID) throws(SMCryptoError) -> [UInt8] {
        id == SM2.defaultID ? defaultIdentityHash : try SM2.identityHash(point: x963Representation, id: id)
    }

    /// Whether `signature` is this key's SM2 signature of `message` under the distinguishing `id`.
    public func isValidSignature(_ signature: SM2Signature, for message: [UInt8], id: [UInt8] = SM2.defaultID)
        throws(SMCryptoError) -> Bool
    {
        isValidSignature(signature, forDigest: SM2.messageDigest(identityHash: try identityHash(id: id), message: message))
    }

    /// Whether `signature` signs the precomputed e = SM3(Z_A ‖ M).
    /// A digest of the wrong length is simply not signed.
    public func isValidSignature(_ signature: SM2Signature, forDigest digest: [UInt8]) -> Bool {
        guard digest.count == SM3.digestByteCount else { return false }
        return omx_sm2_verify(sexp.handle, digest, signature.r, signature.s) == 0
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.x963Representation == rhs.x963Representation }
    public func hash(into hasher: inout Hasher) { hasher.combine(x963Representation) }
}

/// An SM2 private key. Its scalar never appears in `description`, `dump` or logs.
public struct SM2PrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let scalar: [UInt8]
    public let publicKey: SM2PublicKey
    private let sexp: Sexp

    /// A key from its 32-byte big-endian scalar d, which must lie in [1, n−2].
    public init(rawRepresentation scalar: [UInt8]) throws(SMCryptoError) {
        guard scalar.count == 32 else {
            throw SMCryptoError(.invalidPrivateKey, "an SM2 private key is 32 bytes, not \(scalar.count)")
        }
        guard !scalar.allSatisfy({ $0 == 0 }), BigEndian.less(scalar, BigEndian.minus(SM2.n, 1)) else {
            throw SMCryptoError(.invalidPrivateKey, "the private scalar is outside [1, n−2]")
        }
        _ = Gcrypt.ready
        var point = [UInt8](repeating: 0, count: 65)
        try Gcrypt.check(omx_sm2_public_from_private(scalar, &point), "public key from private key")
        let publicKey = try SM2PublicKey(x963Representation: point)
        var handle: gcry_sexp_t?
        try Gcrypt.check(omx_sm2_private_key(&handle, point, scalar), "private key")
        self.scalar = scalar
        self.publicKey = publicKey
        self.sexp = Sexp(handle!)
    }

    /// A new key from libgcrypt's strong random generator.
    public static func generate() -> SM2PrivateKey {
        while true {
            if let key = try? SM2PrivateKey(rawRepresentation: SMCrypto.randomBytes(32)) { return key }
        }
    }

    /// PKCS#8 (`PRIVATE KEY`, what OpenSSL 3's `genpkey -algorithm SM2` writes) or SEC1
    /// (`SM2 PRIVATE KEY` from OpenSSL 3's `openssl ec`, `EC PRIVATE KEY` from other tools).
    public init(pemRepresentation pem: String) throws(SMCryptoError) {
        let (label, der) = try PEM.decode(pem)
        switch label {
        case "PRIVATE KEY": try self.init(derRepresentation: der)
        case "EC PRIVATE KEY", "SM2 PRIVATE KEY": try self.init(sec1DERRepresentation: der, curveKnown: false)
        default: throw SMCryptoError(.malformedEncoding, "expected a PRIVATE KEY, SM2 PRIVATE KEY or EC PRIVATE KEY PEM block")
        }
    }

    /// PKCS#8 PrivateKeyInfo (RFC 5208/5915) with id-ecPublicKey and sm2p256v1.
    public init(derRepresentation der: [UInt8]) throws(SMCryptoError) {
        var outer = DERReader(der)
        var info = DERReader(try outer.read(DER.sequence, "PrivateKeyInfo"))
        try outer.expectEnd("PrivateKeyInfo")
        guard try info.readUnsignedInteger("PrivateKeyInfo version").isEmpty else {
            throw SMCryptoError(.malformedEncoding, "PrivateKeyInfo version must be 0")
        }
        try readAlgorithm(&info)
        let inner = Array(try info.read(DER.octetString, "privateKey"))
        try info.expectEnd("privateKey (attributes are not accepted)")
        try self.init(sec1DERRepresentation: inner, curveKnown: true)
    }

    /// ECPrivateKey (RFC 5915). Its optional public key must match the scalar.
    private init(sec1DERRepresentation der: [UInt8], curveKnown: Bool) throws(SMCryptoError) {
        var outer = DERReader(der)
        var key = DERReader(try outer.read(DER.sequence, "ECPrivateKey"))
        try outer.expectEnd("ECPrivateKey")
        guard Array(try key.readUnsignedInteger("ECPrivateKey version")) == [1] else {
            throw SMCryptoError(.malformedEncoding, "ECPrivateKey version must be 1")
        }
        let scalar = try key.read(DER.octetString, "privateKey scalar")
        guard scalar.count == 32 else {
            throw SMCryptoError(.invalidPrivateKey, "the private scalar must be 32 bytes (RFC 5915), not \(scalar.count)")
        }
        var curveNamed = curveKnown
        if key.nextTag == DER.contextZero {
            var parameters = DERReader(try key.read(DER.contextZero, "ECPrivateKey parameters"))
            try checkCurve(try parameters.read(DER.objectIdentifier, "named curve"))
            try parameters.expectEnd("named curve")
            curveNamed = true
        }
        guard curveNamed else { throw SMCryptoError(.wrongCurve, "the EC private key names no curve") }
        var embeddedPoint: [UInt8]?
        if key.nextTag == DER.contextOne {
            var wrapper = DERReader(try key.read(DER.contextOne, "ECPrivateKey publicKey"))
            let bits = try wrapper.read(DER.bitString, "ECPrivateKey publicKey")
            try wrapper.expectEnd("ECPrivateKey publicKey")
            guard bits.first == 0 else { throw SMCryptoError(.malformedEncoding, "ECPrivateKey publicKey has unused bits") }
            embeddedPoint = Array(bits.dropFirst())
        }
        try key.expectEnd("ECPrivateKey")
        try self.init(rawRepresentation: Array(scalar))
        if let embeddedPoint, embeddedPoint != publicKey.x963Representation {
            throw SMCryptoError(.keyMismatch, "the public key inside the private key does not belong to it")
        }
    }

    /// The 32-byte scalar d. Handle as a secret.
    public var rawRepresentation: [UInt8] { scalar }

    /// PKCS#8, laid out as OpenSSL 3 writes it (the public key included).
    public var derRepresentation: [UInt8] {
        let ecPrivateKey = DER.sequence(
            DER.unsignedInteger([1]), DER.tlv(DER.octetString, scalar),
            DER.tlv(DER.contextOne, DER.tlv(DER.bitString, [0] + publicKey.x963Representation)))
        return DER.sequence(
            DER.unsignedInteger([0]),
            DER.sequence(DER.tlv(DER.objectIdentifier, DER.ecPublicKeyOID), DER.tlv(DER.objectIdentifier, DER.sm2CurveOID)),
            DER.tlv(DER.octetString, ecPrivateKey))
    }

    public var pemRepresentation: String { PEM.encode(label: "PRIVATE KEY", der: derRepresentation) }

    public var description: String { "SM2PrivateKey(public: \(Hex.encode(publicKey.x963Representation)))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }

    /// The SM2 signature of `message` under the distinguishing `id`; randomized (a fresh k each time).
    public func signature(for message: [UInt8], id: [UInt8] = SM2.defaultID) throws(SMCryptoError) -> SM2Signature {
        try signature(forDigest: SM2.messageDigest(identityHash: try publicKey.identityHash(id: id), message: message))
    }

    /// The signature of a precomputed e = SM3(Z_A ‖ M).
    public func signature(forDigest digest: [UInt8]) throws(SMCryptoError) -> SM2Signature {
        guard digest.count == SM3.digestByteCount else {
            throw SMCryptoError(.invalidLength, "an SM2 digest is 32 bytes, not \(digest.count)")
        }
        var r = [UInt8](repeating: 0, count: 32)
        var s = [UInt8](repeating: 0, count: 32)
        try Gcrypt.check(omx_sm2_sign(sexp.handle, digest, &r, &s), "sign")
        return try SM2Signature(r: r, s: s)
    }
}

/// An SM2 signature (r, s), each in [1, n−1], as 32-byte big-endian values.
public struct SM2Signature: Sendable, Hashable {
    public let r: [UInt8]
    public let s: [UInt8]

    public init(r: [UInt8], s: [UInt8]) throws(SMCryptoError) {
        guard r.count == 32, s.count == 32 else { throw SMCryptoError(.invalidLength, "r and s are 32 bytes each") }
        for (name, value) in [("r", r), ("s", s)] where value.allSatisfy({ $0 == 0 }) || !BigEndian.less(value, SM2.n) {
            throw SMCryptoError(.signatureOutOfRange, "\(name) is outside [1, n−1]")
        }
        self.r = r
        self.s = s
    }

    /// `SEQUENCE { INTEGER r, INTEGER s }`, what OpenSSL writes and reads.
    public init(derRepresentation der: [UInt8]) throws(SMCryptoError) {
        var outer = DERReader(der)
        var pair = DERReader(try outer.read(DER.sequence, "signature"))
        try outer.expectEnd("signature")
        let r = try pair.readUnsignedInteger("r")
        let s = try pair.readUnsignedInteger("s")
        try pair.expectEnd("s")
        guard r.count <= 32, s.count <= 32 else { throw SMCryptoError(.signatureOutOfRange, "r or s is longer than 32 bytes") }
        try self.init(r: [UInt8](repeating: 0, count: 32 - r.count) + r, s: [UInt8](repeating: 0, count: 32 - s.count) + s)
    }

    /// r ‖ s, 64 bytes.
    public init(rawRepresentation raw: [UInt8]) throws(SMCryptoError) {
        guard raw.count == 64 else {
            throw SMCryptoError(raw.count < 64 ? .truncated : .trailingBytes, "a raw SM2 signature is 64 bytes, not \(raw.count)")
        }
        try self.init(r: Array(raw[0..<32]), s: Array(raw[32..<64]))
    }

    public var derRepresentation: [UInt8] { DER.sequence(DER.unsignedInteger(r), DER.unsignedInteger(s)) }
    public var rawRepresentation: [UInt8] { r + s }
}

/// Reads an AlgorithmIdentifier that must be id-ecPublicKey on sm2p256v1.
private func readAlgorithm(_ reader: inout DERReader) throws(SMCryptoError) {
    var algorithm = DERReader(try reader.read(DER.sequence, "AlgorithmIdentifier"))
    let oid = try algorithm.read(DER.objectIdentifier, "algorithm")
    guard Array(oid) == DER.ecPublicKeyOID else { throw SMCryptoError(.wrongCurve, "the key is not an elliptic-curve key") }
    guard algorithm.nextTag == DER.objectIdentifier else {
        throw SMCryptoError(.wrongCurve, "the key does not name its curve (explicit parameters are not accepted)")
    }
    try checkCurve(try algorithm.read(DER.objectIdentifier, "named curve"))
    try algorithm.expectEnd("AlgorithmIdentifier")
}

private func checkCurve(_ oid: ArraySlice<UInt8>) throws(SMCryptoError) {
    guard Array(oid) == DER.sm2CurveOID else {
        throw SMCryptoError(.wrongCurve, "the key is on another curve (OID bytes \(Hex.encode(oid))), not sm2p256v1")
    }
}

/// A libgcrypt s-expression shared by the key values that hold it.
///
/// `@unchecked Sendable`: an s-expression is immutable once built, and libgcrypt only reads it
/// when signing or verifying, so concurrent use from many tasks is safe.
final class Sexp: @unchecked Sendable {
    let handle: gcry_sexp_t
    init(_ handle: gcry_sexp_t) { self.handle = handle }
    deinit { gcry_sexp_release(handle) }
}

/// Comparisons of equal-length unsigned big-endian numbers, for range checks against p and n.
enum BigEndian {
    static func less(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        precondition(lhs.count == rhs.count)
        for (left, right) in zip(lhs, rhs) where left != right { return left < right }
        return false
    }

    static func minus(_ value: [UInt8], _ small: UInt8) -> [UInt8] {
        var result = value
        var borrow = Int(small)
        var index = result.count - 1
        while borrow > 0 && index >= 0 {
            let difference = Int(result[index]) - borrow
            result[index] = UInt8((difference + 256) % 256)
            borrow = difference < 0 ? 1 : 0
            index -= 1
        }
        return result
    }
}
