import Foundation
import SMCrypto
import Testing

@Suite struct SM2Tests {
    // GB/T 32918.5-2017 (= GM/T 0003.5-2012) Annex A: the signature example on sm2p256v1.
    static let annexPrivate = bytes("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
    static let annexPublic = bytes(
        "04 09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
            + "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
    static let annexMessage = Array("message digest".utf8)
    static let annexZA = "b2e14c5c79c6df5b85f4fe7ed8db7a262b9da7e07ccb0ea9f4747b8ccda8a4f3"
    static let annexE = "f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640"
    static let annexR = bytes("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3")
    static let annexS = bytes("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")

    @Test func annexPublicKeyZAAndDigest() throws {
        let key = try SM2PrivateKey(rawRepresentation: Self.annexPrivate)
        #expect(key.publicKey.x963Representation == Self.annexPublic)
        let za = try key.publicKey.identityHash(id: SM2.defaultID)
        #expect(Hex.encode(za) == Self.annexZA)
        #expect(Hex.encode(SM2.messageDigest(identityHash: za, message: Self.annexMessage)) == Self.annexE)
    }

    @Test func annexSignatureVerifies() throws {
        let publicKey = try SM2PublicKey(x963Representation: Self.annexPublic)
        let signature = try SM2Signature(r: Self.annexR, s: Self.annexS)
        #expect(try publicKey.isValidSignature(signature, for: Self.annexMessage))
        #expect(try !publicKey.isValidSignature(signature, for: Array("message digesT".utf8)))
    }

    @Test func signThenVerifyAndEverySingleBitFlipFails() throws {
        let key = SM2PrivateKey.generate()
        let message = Array("调拨单 TR-2026-000123 dispatch".utf8)
        let signature = try key.signature(for: message)
        #expect(try key.publicKey.isValidSignature(signature, for: message))

        var flippedMessage = message
        flippedMessage[5] ^= 0x01
        #expect(try !key.publicKey.isValidSignature(signature, for: flippedMessage))

        var raw = signature.rawRepresentation
        raw[40] ^= 0x01
        do {
            let flipped = try SM2Signature(rawRepresentation: raw)
            #expect(try !key.publicKey.isValidSignature(flipped, for: message))
        } catch {
            #expect(error.code == .signatureOutOfRange)
        }
        #expect(try !key.publicKey.isValidSignature(signature, for: message, id: Array("another-org".utf8)))
        #expect(try !SM2PrivateKey.generate().publicKey.isValidSignature(signature, for: message))
    }

    @Test func aFlippedBitInThePublicKeyIsRefusedOrFailsVerification() throws {
        let key = SM2PrivateKey.generate()
        let message = Array("receipt".utf8)
        let signature = try key.signature(for: message)
        for index in [1, 20, 33, 64] {
            var point = key.publicKey.x963Representation
            point[index] ^= 0x01
            do {
                let other = try SM2PublicKey(x963Representation: point)
                #expect(try !other.isValidSignature(signature, for: message))
            } catch {
                #expect(error.code == .invalidPoint)
            }
        }
    }

    @Test func signaturesAreRandomizedButBothVerify() throws {
        let key = SM2PrivateKey.generate()
        let first = try key.signature(for: [1, 2, 3])
        let second = try key.signature(for: [1, 2, 3])
        #expect(first != second)
        #expect(try key.publicKey.isValidSignature(second, for: [1, 2, 3]))
    }

    @Test func encodingsRoundTrip() throws {
        let key = SM2PrivateKey.generate()
        #expect(try SM2PrivateKey(pemRepresentation: key.pemRepresentation).rawRepresentation == key.rawRepresentation)
        #expect(try SM2PublicKey(pemRepresentation: key.publicKey.pemRepresentation) == key.publicKey)
        let signature = try key.signature(for: [9])
        #expect(try SM2Signature(derRepresentation: signature.derRepresentation) == signature)
        #expect(try SM2Signature(rawRepresentation: signature.rawRepresentation) == signature)
        #expect(!key.description.contains(Hex.encode(key.rawRepresentation)))
    }

    // MARK: malformed input: typed errors, never a crash

    static let n = bytes("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123")

    @Test func signatureComponentsOutOfRangeAreRefused() {
        let zero = [UInt8](repeating: 0, count: 32)
        let one = [UInt8](repeating: 0, count: 31) + [1]
        for (r, s) in [(zero, one), (one, zero), (Self.n, one), (one, Self.n), ([UInt8](repeating: 0xFF, count: 32), one)] {
            let error = #expect(throws: SMCryptoError.self) { try SM2Signature(r: r, s: s) }
            #expect(error?.code == .signatureOutOfRange)
        }
    }

    @Test(arguments: [
        ("", SMCryptoError.Code.truncated),
        ("30", .truncated),
        ("3007020101020101", .truncated),
        ("300602010102010100", .trailingBytes),
        ("31060201010201 01", .malformedEncoding),
        ("3080020101020101 0000", .malformedEncoding),
        ("308106020101020101", .malformedEncoding),
        ("300702020001020101", .malformedEncoding),
        ("3006020181020101", .malformedEncoding),
        ("30050201010200", .malformedEncoding),
        ("3003020101", .truncated),
        ("3009020101020101020101", .trailingBytes),
        ("30260221" + "01" + String(repeating: "00", count: 32) + "020101", .signatureOutOfRange),
    ])
    func malformedDERSignaturesAreRefused(hex: String, code: SMCryptoError.Code) {
        let error = #expect(throws: SMCryptoError.self) { try SM2Signature(derRepresentation: bytes(hex)) }
        #expect(error?.code == code, "\(hex)")
    }

    @Test func rawSignaturesOfTheWrongLengthAreRefused() {
        let short = #expect(throws: SMCryptoError.self) { try SM2Signature(rawRepresentation: [UInt8](repeating: 1, count: 63)) }
        #expect(short?.code == .truncated)
        let long = #expect(throws: SMCryptoError.self) { try SM2Signature(rawRepresentation: [UInt8](repeating: 1, count: 65)) }
        #expect(long?.code == .trailingBytes)
    }

    @Test func invalidPointsAreRefused() throws {
        var offCurve = Self.annexPublic
        offCurve[64] ^= 0x01
        let p = bytes("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF")
        let cases: [[UInt8]] = [
            offCurve,
            [0x04] + p + Array(Self.annexPublic[33...]),
            [0x02] + Array(Self.annexPublic[1...32]),
            [0x05] + Array(Self.annexPublic[1...]),
            Array(Self.annexPublic.dropLast()),
            Self.annexPublic + [0],
            [0x04] + [UInt8](repeating: 0, count: 64),
        ]
        for point in cases {
            let error = #expect(throws: SMCryptoError.self) { try SM2PublicKey(x963Representation: point) }
            #expect(error?.code == .invalidPoint, "\(Hex.encode(point))")
        }
    }

    @Test func privateScalarsOutsideTheRangeAreRefused() {
        let nMinusOne = Array(Self.n.dropLast()) + [Self.n.last! - 1]
        for scalar in [[UInt8](repeating: 0, count: 32), Self.n, nMinusOne, [UInt8](repeating: 0xFF, count: 32), [1]] {
            let error = #expect(throws: SMCryptoError.self) { try SM2PrivateKey(rawRepresentation: scalar) }
            #expect(error?.code == .invalidPrivateKey)
        }
    }

    @Test func truncatedAndTrailingKeyEncodingsAreRefused() throws {
        let key = SM2PrivateKey.generate()
        let spki = key.publicKey.derRepresentation
        let truncated = #expect(throws: SMCryptoError.self) { try SM2PublicKey(derRepresentation: Array(spki.dropLast())) }
        #expect(truncated?.code == .truncated)
        let trailing = #expect(throws: SMCryptoError.self) { try SM2PublicKey(derRepresentation: spki + [0]) }
        #expect(trailing?.code == .trailingBytes)
        let pkcs8 = key.derRepresentation
        let cut = #expect(throws: SMCryptoError.self) { try SM2PrivateKey(derRepresentation: Array(pkcs8.prefix(40))) }
        #expect(cut?.code == .truncated)
        let extra = #expect(throws: SMCryptoError.self) { try SM2PrivateKey(derRepresentation: pkcs8 + [0, 0]) }
        #expect(extra?.code == .trailingBytes)
        let text = #expect(throws: SMCryptoError.self) {
            try SM2PublicKey(pemRepresentation: key.publicKey.pemRepresentation + "x\n")
        }
        #expect(text?.code == .trailingBytes)
        let kind = #expect(throws: SMCryptoError.self) { try SM2PublicKey(pemRepresentation: key.pemRepresentation) }
        #expect(kind?.code == .malformedEncoding)
    }

    @Test func nonCanonicalBase64InPEMIsRefused() throws {
        let pem = SM2PrivateKey.generate().publicKey.pemRepresentation
        var lines = pem.split(separator: "\n").map(String.init)
        lines[lines.count - 2] += "="
        let error = #expect(throws: SMCryptoError.self) { try SM2PublicKey(pemRepresentation: lines.joined(separator: "\n")) }
        #expect(error?.code == .malformedEncoding)
    }

    @Test func digestsOfTheWrongLengthAreRefusedNotFatal() throws {
        let key = SM2PrivateKey.generate()
        let error = #expect(throws: SMCryptoError.self) { try key.signature(forDigest: [1, 2, 3]) }
        #expect(error?.code == .invalidLength)
        let signature = try key.signature(forDigest: [UInt8](repeating: 7, count: 32))
        #expect(!key.publicKey.isValidSignature(signature, forDigest: [1, 2, 3]))
        #expect(key.publicKey.isValidSignature(signature, forDigest: [UInt8](repeating: 7, count: 32)))
    }

    @Test func thePrivateScalarStaysOutOfDumps() {
        let key = SM2PrivateKey.generate()
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains(Hex.encode(key.rawRepresentation)))
        #expect(!dumped.contains(String(describing: key.rawRepresentation)))
        #expect(!String(reflecting: key).contains(Hex.encode(key.rawRepresentation)))
    }

    @Test func aPrivateKeyWhosePublicKeyDoesNotMatchIsRefused() throws {
        let key = SM2PrivateKey.generate()
        let other = SM2PrivateKey.generate()
        var der = key.derRepresentation
        let point = key.publicKey.x963Representation
        let range = try #require(der.firstRange(of: point))
        der.replaceSubrange(range, with: other.publicKey.x963Representation)
        let error = #expect(throws: SMCryptoError.self) { try SM2PrivateKey(derRepresentation: der) }
        #expect(error?.code == .keyMismatch)
    }

    /// SEC1 `EC PRIVATE KEY` (what other tools write) must name its curve, and only sm2p256v1 is
    /// accepted; OpenSSL 3's `SM2 PRIVATE KEY` form is checked in OpenSSLInteropTests.
    @Test func secOneECPrivateKeysMustNameSM2() throws {
        let key = SM2PrivateKey.generate()
        func sec1(curveOID: String) -> String {
            let point = "0342 00" + Hex.encode(key.publicKey.x963Representation)
            let body =
                "020101 0420" + Hex.encode(key.rawRepresentation) + "a0" + String(format: "%02x", curveOID.count / 2 + 2)
                + "06" + String(format: "%02x", curveOID.count / 2) + curveOID + "a144" + point
            let der = bytes("3077" + body)
            return "-----BEGIN EC PRIVATE KEY-----\n\(Data(der).base64EncodedString())\n-----END EC PRIVATE KEY-----\n"
        }
        let sm2 = try SM2PrivateKey(pemRepresentation: sec1(curveOID: "2a811ccf5501822d"))
        #expect(sm2.rawRepresentation == key.rawRepresentation)
        let error = #expect(throws: SMCryptoError.self) {
            try SM2PrivateKey(pemRepresentation: sec1(curveOID: "2a8648ce3d030107"))
        }
        #expect(error?.code == .wrongCurve)
    }

    @Test func idsLongerThanTheENTLFieldAreRefused() throws {
        let key = SM2PrivateKey.generate()
        let error = #expect(throws: SMCryptoError.self) {
            try key.signature(for: [1], id: [UInt8](repeating: 0x41, count: SM2.identifierByteCountMax + 1))
        }
        #expect(error?.code == .invalidIdentifier)
        #expect(
            try key.publicKey.isValidSignature(
                key.signature(for: [1], id: [UInt8](repeating: 0x41, count: SM2.identifierByteCountMax)), for: [1],
                id: [UInt8](repeating: 0x41, count: SM2.identifierByteCountMax)))
    }
}
