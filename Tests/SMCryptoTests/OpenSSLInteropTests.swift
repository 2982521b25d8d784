import Foundation
import SMCrypto
import Testing

/// Our SM2 against OpenSSL 3's command line, in both directions, with keys crossing both ways.
/// OpenSSL 3.0's default distinguishing ID is empty, so every call passes the standard one.
@Suite struct OpenSSLInteropTests {
    static let distid = "distid:1234567812345678"

    @Test func ourSignatureVerifiesWithOpenSSL() throws {
        try withScratchDirectory { directory in
            let key = SM2PrivateKey.generate()
            let (pub, message, signature) = (
                directory.appendingPathComponent("pub.pem"), directory.appendingPathComponent("msg"),
                directory.appendingPathComponent("sig.der")
            )
            try pub.write(Array(key.publicKey.pemRepresentation.utf8))
            let payload = pseudoRandomBytes(count: 5000, seed: 42)
            try message.write(payload)
            try signature.write(try key.signature(for: payload).derRepresentation)
            let verified = try openssl([
                "dgst", "-sm3", "-verify", pub.path, "-sigopt", Self.distid, "-signature", signature.path, message.path,
            ])
            #expect(verified.status == 0, "\(verified.standardError)")
            #expect(verified.text.contains("Verified OK"))

            let wrongID = try openssl([
                "dgst", "-sm3", "-verify", pub.path, "-sigopt", "distid:someone-else", "-signature", signature.path, message.path,
            ])
            #expect(wrongID.status != 0)
        }
    }

    @Test func openSSLSignatureVerifiesWithOursAndKeysCrossBothWays() throws {
        try withScratchDirectory { directory in
            let (keyFile, pubFile, message, signature) = (
                directory.appendingPathComponent("key.pem"), directory.appendingPathComponent("pub.pem"),
                directory.appendingPathComponent("msg"), directory.appendingPathComponent("sig.der")
            )
            #expect(try openssl(["genpkey", "-algorithm", "SM2", "-out", keyFile.path]).status == 0)
            #expect(try openssl(["pkey", "-in", keyFile.path, "-pubout", "-out", pubFile.path]).status == 0)
            let payload = pseudoRandomBytes(count: 333, seed: 5)
            try message.write(payload)
            let signed = try openssl([
                "dgst", "-sm3", "-sign", keyFile.path, "-sigopt", Self.distid, "-out", signature.path, message.path,
            ])
            #expect(signed.status == 0, "\(signed.standardError)")

            let theirPrivate = try SM2PrivateKey(pemRepresentation: String(decoding: try keyFile.readBytes(), as: UTF8.self))
            let theirPublic = try SM2PublicKey(pemRepresentation: String(decoding: try pubFile.readBytes(), as: UTF8.self))
            #expect(theirPrivate.publicKey == theirPublic)
            let theirSignature = try SM2Signature(derRepresentation: try signature.readBytes())
            #expect(try theirPublic.isValidSignature(theirSignature, for: payload))

            // Our export of their key reads back in OpenSSL as the same key.
            let reexported = directory.appendingPathComponent("ours.pem")
            try reexported.write(Array(theirPrivate.pemRepresentation.utf8))
            let derived = try openssl(["pkey", "-in", reexported.path, "-pubout"])
            #expect(derived.status == 0, "\(derived.standardError)")
            #expect(try SM2PublicKey(pemRepresentation: derived.text) == theirPublic)

            // A signature made with our own key over their tooling's key file format.
            let ownSignature = directory.appendingPathComponent("own.der")
            let viaOpenSSL = try openssl([
                "dgst", "-sm3", "-sign", reexported.path, "-sigopt", Self.distid, "-out", ownSignature.path, message.path,
            ])
            #expect(viaOpenSSL.status == 0)
            #expect(try theirPublic.isValidSignature(SM2Signature(derRepresentation: ownSignature.readBytes()), for: payload))
        }
    }

    @Test func ourPrivateKeyIsReadableByOpenSSL() throws {
        try withScratchDirectory { directory in
            let key = SM2PrivateKey.generate()
            let file = directory.appendingPathComponent("key.pem")
            try file.write(Array(key.pemRepresentation.utf8))
            let text = try openssl(["pkey", "-in", file.path, "-noout", "-text"])
            #expect(text.status == 0, "\(text.standardError)")
            #expect(text.text.contains("SM2"))
            let pub = try openssl(["pkey", "-in", file.path, "-pubout"])
            #expect(try SM2PublicKey(pemRepresentation: pub.text) == key.publicKey)
        }
    }

    /// OpenSSL 3's `openssl ec` writes SEC1 under the label `SM2 PRIVATE KEY`.
    @Test func openSSLSEC1PrivateKeysAreAccepted() throws {
        let generated = try openssl(["genpkey", "-algorithm", "SM2"])
        let sec1 = try openssl(["ec"], input: generated.standardOutput)
        #expect(sec1.status == 0, "\(sec1.standardError)")
        #expect(sec1.text.contains("BEGIN SM2 PRIVATE KEY"))
        let fromSEC1 = try SM2PrivateKey(pemRepresentation: sec1.text)
        let fromPKCS8 = try SM2PrivateKey(pemRepresentation: generated.text)
        #expect(fromSEC1.rawRepresentation == fromPKCS8.rawRepresentation)
        #expect(fromPKCS8.pemRepresentation == generated.text)
    }

    @Test func keysOnOtherCurvesAreRefusedAsWrongCurve() throws {
        let p256 = try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        #expect(p256.status == 0)
        let privateError = #expect(throws: SMCryptoError.self) { try SM2PrivateKey(pemRepresentation: p256.text) }
        #expect(privateError?.code == .wrongCurve)
        let p256Public = try openssl(["pkey", "-pubout"], input: p256.standardOutput)
        let publicError = #expect(throws: SMCryptoError.self) { try SM2PublicKey(pemRepresentation: p256Public.text) }
        #expect(publicError?.code == .wrongCurve)
        let ed25519 = try openssl(["genpkey", "-algorithm", "ED25519"])
        let edError = #expect(throws: SMCryptoError.self) { try SM2PrivateKey(pemRepresentation: ed25519.text) }
        #expect(edError?.code == .wrongCurve)
    }
}
