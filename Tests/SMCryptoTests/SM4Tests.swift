import Foundation
import SMCrypto
import Testing

@Suite struct SM4Tests {
    static let standardKey = bytes("0123456789abcdeffedcba9876543210")

    /// GB/T 32907-2016, Annex A, example 1: one block.
    @Test func publishedSingleBlock() throws {
        let cipher = try SM4.BlockCipher(key: Self.standardKey)
        #expect(Hex.encode(try cipher.encrypt(Self.standardKey)) == "681edf34d206965e86b3e94f536e4246")
    }

    /// GB/T 32907-2016, Annex A, example 2: the same block encrypted 1,000,000 times.
    @Test func publishedMillionIterations() throws {
        let cipher = try SM4.BlockCipher(key: Self.standardKey)
        var block = Self.standardKey
        for _ in 0..<1_000_000 { block = try cipher.encrypt(block) }
        #expect(Hex.encode(block) == "595298c7c6fd271f0402f804c33d3f66")
    }

    // RFC 8998, Appendix A.1.
    static let rfcKey = bytes("0123456789ABCDEFFEDCBA9876543210")
    static let rfcNonce = bytes("00001234567800000000ABCD")
    static let rfcAAD = bytes("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    static let rfcPlaintext = bytes(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    static let rfcCiphertext = bytes(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    static let rfcTag = bytes("83DE3541E4C2B58177E065A9BF7B62EC")

    @Test func gcmMatchesRFC8998() throws {
        let (ciphertext, tag) = try SM4.GCM.encrypt(
            key: Self.rfcKey, nonce: Self.rfcNonce, plaintext: Self.rfcPlaintext, associatedData: Self.rfcAAD)
        #expect(ciphertext == Self.rfcCiphertext)
        #expect(tag == Self.rfcTag)
        let plaintext = try SM4.GCM.decrypt(
            key: Self.rfcKey, nonce: Self.rfcNonce, ciphertext: Self.rfcCiphertext, tag: Self.rfcTag,
            associatedData: Self.rfcAAD)
        #expect(plaintext == Self.rfcPlaintext)
    }

    enum Tamper: CaseIterable { case ciphertext, tag, nonce, associatedData, key }

    @Test(arguments: Tamper.allCases)
    func gcmRefusesAnyAlteration(_ tamper: Tamper) {
        var (key, nonce, ciphertext, tag, aad) = (Self.rfcKey, Self.rfcNonce, Self.rfcCiphertext, Self.rfcTag, Self.rfcAAD)
        switch tamper {
        case .ciphertext: ciphertext[17] ^= 0x01
        case .tag: tag[15] ^= 0x80
        case .nonce: nonce[0] ^= 0x01
        case .associatedData: aad.append(0)
        case .key: key[3] ^= 0x10
        }
        let error = #expect(throws: SMCryptoError.self) {
            try SM4.GCM.decrypt(key: key, nonce: nonce, ciphertext: ciphertext, tag: tag, associatedData: aad)
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test func gcmRefusesTruncatedTagsAndWrongLengths() {
        let short = #expect(throws: SMCryptoError.self) {
            try SM4.GCM.decrypt(
                key: Self.rfcKey, nonce: Self.rfcNonce, ciphertext: Self.rfcCiphertext, tag: Array(Self.rfcTag.prefix(12)),
                associatedData: Self.rfcAAD)
        }
        #expect(short?.code == .invalidLength)
        let nonce = #expect(throws: SMCryptoError.self) {
            try SM4.GCM.encrypt(key: Self.rfcKey, nonce: [UInt8](repeating: 0, count: 16), plaintext: [1])
        }
        #expect(nonce?.code == .invalidLength)
        let key = #expect(throws: SMCryptoError.self) {
            try SM4.GCM.encrypt(key: [UInt8](repeating: 0, count: 32), nonce: Self.rfcNonce, plaintext: [1])
        }
        #expect(key?.code == .invalidLength)
    }

    private static let pythonGCM = """
        import sys
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        op, key, nonce, aad, data = (bytes.fromhex(a) if i else a for i, a in enumerate(sys.argv[1:]))
        if op == "seal":
            e = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
            e.authenticate_additional_data(aad)
            print((e.update(data) + e.finalize() + e.tag).hex())
        else:
            d = Cipher(algorithms.SM4(key), modes.GCM(nonce, data[-16:])).decryptor()
            d.authenticate_additional_data(aad)
            print((d.update(data[:-16]) + d.finalize()).hex())
        """

    /// Python's `cryptography` (its own OpenSSL build) is an SM4-GCM independent of libgcrypt.
    @Test(arguments: [0, 1, 15, 16, 17, 1000])
    func gcmInteroperatesWithPythonCryptographyBothWays(length: Int) throws {
        let key = pseudoRandomBytes(count: 16, seed: 1)
        let nonce = pseudoRandomBytes(count: 12, seed: 2)
        let aad = pseudoRandomBytes(count: length % 7, seed: 3)
        let plaintext = pseudoRandomBytes(count: length, seed: 4)
        let (ciphertext, tag) = try SM4.GCM.encrypt(key: key, nonce: nonce, plaintext: plaintext, associatedData: aad)
        let theirs = try python(
            Self.pythonGCM, ["seal", Hex.encode(key), Hex.encode(nonce), Hex.encode(aad), Hex.encode(plaintext)])
        #expect(theirs == Hex.encode(ciphertext + tag))
        let theirPlaintext = try python(
            Self.pythonGCM, ["open", Hex.encode(key), Hex.encode(nonce), Hex.encode(aad), Hex.encode(ciphertext + tag)])
        #expect(theirPlaintext == Hex.encode(plaintext))
        let sealedByThem = bytes(theirs)
        let ours = try SM4.GCM.decrypt(
            key: key, nonce: nonce, ciphertext: Array(sealedByThem.dropLast(16)), tag: Array(sealedByThem.suffix(16)),
            associatedData: aad)
        #expect(ours == plaintext)
    }

    @Test(arguments: [0, 1, 15, 16, 17, 4097])
    func cbcInteroperatesWithOpenSSLBothWays(length: Int) throws {
        let key = pseudoRandomBytes(count: 16, seed: 11)
        let iv = pseudoRandomBytes(count: 16, seed: 12)
        let plaintext = pseudoRandomBytes(count: length, seed: 13)
        let ciphertext = try SM4.CBC.encrypt(key: key, iv: iv, plaintext: plaintext)
        let arguments = ["enc", "-sm4-cbc", "-K", Hex.encode(key), "-iv", Hex.encode(iv)]
        let theirs = try openssl(arguments, input: plaintext)
        #expect(theirs.status == 0, "\(theirs.standardError)")
        #expect(theirs.standardOutput == ciphertext)
        let decrypted = try openssl(arguments + ["-d"], input: ciphertext)
        #expect(decrypted.standardOutput == plaintext)
        #expect(try SM4.CBC.decrypt(key: key, iv: iv, ciphertext: theirs.standardOutput) == plaintext)
    }

    @Test func cbcRefusesBadPaddingAndRaggedLengths() throws {
        let key = pseudoRandomBytes(count: 16, seed: 21)
        let iv = pseudoRandomBytes(count: 16, seed: 22)
        var ciphertext = try SM4.CBC.encrypt(key: key, iv: iv, plaintext: Array("sixteen bytes!!!".utf8))
        ciphertext[ciphertext.count - 1] ^= 0x01
        let padding = #expect(throws: SMCryptoError.self) { try SM4.CBC.decrypt(key: key, iv: iv, ciphertext: ciphertext) }
        #expect(padding?.code == .invalidPadding)
        let ragged = #expect(throws: SMCryptoError.self) {
            try SM4.CBC.decrypt(key: key, iv: iv, ciphertext: Array(ciphertext.dropLast()))
        }
        #expect(ragged?.code == .invalidLength)
    }

    @Test func sealedValuesRoundTripWithFreshNoncesAndBindTheirVersion() throws {
        let key = SMCrypto.randomBytes(16)
        let secret = Array("private key of 石家庄保税仓".utf8)
        let first = try SM4.Sealed.seal(key: key, plaintext: secret, associatedData: Array("org:42".utf8))
        let second = try SM4.Sealed.seal(key: key, plaintext: secret, associatedData: Array("org:42".utf8))
        #expect(first != second)
        #expect(first.count == secret.count + SM4.Sealed.overheadByteCount)
        #expect(try SM4.Sealed.open(key: key, sealed: first, associatedData: Array("org:42".utf8)) == secret)

        let wrongContext = #expect(throws: SMCryptoError.self) {
            try SM4.Sealed.open(key: key, sealed: first, associatedData: Array("org:43".utf8))
        }
        #expect(wrongContext?.code == .authenticationFailed)
        var versioned = first
        versioned[0] = 2
        let version = #expect(throws: SMCryptoError.self) { try SM4.Sealed.open(key: key, sealed: versioned) }
        #expect(version?.code == .unsupportedVersion)
        let truncated = #expect(throws: SMCryptoError.self) { try SM4.Sealed.open(key: key, sealed: Array(first.prefix(20))) }
        #expect(truncated?.code == .truncated)
        for index in [1, 13, first.count - 1] {
            var tampered = first
            tampered[index] ^= 0x04
            let error = #expect(throws: SMCryptoError.self) {
                try SM4.Sealed.open(key: key, sealed: tampered, associatedData: Array("org:42".utf8))
            }
            #expect(error?.code == .authenticationFailed, "byte \(index)")
        }
    }
}
