import Foundation
import SMCrypto
import Testing

@Suite struct SM3Tests {
    /// GB/T 32905-2016, Annex A: examples 1 and 2.
    @Test func publishedVectors() {
        #expect(Hex.encode(SM3.hash("abc")) == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
        #expect(
            Hex.encode(SM3.hash(String(repeating: "abcd", count: 16)))
                == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")
    }

    @Test func streamingInIrregularPiecesEqualsOneShot() {
        let message = pseudoRandomBytes(count: 10_000, seed: 7)
        var hasher = SM3Hasher()
        var offset = 0
        for size in [0, 1, 63, 64, 65, 1000, 3, 4096] where offset < message.count {
            let end = min(message.count, offset + size)
            hasher.update(Array(message[offset..<end]))
            offset = end
        }
        hasher.update(Array(message[offset...]))
        #expect(hasher.finalize() == SM3.hash(message))
    }

    @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 1000, 1 << 20])
    func equalsOpenSSLOnRandomInput(length: Int) throws {
        let message = pseudoRandomBytes(count: length, seed: UInt64(length) + 1)
        let output = try openssl(["dgst", "-sm3", "-r"], input: message)
        #expect(output.status == 0, "\(output.standardError)")
        let theirs = output.text.split(separator: " ").first.map(String.init)
        #expect(theirs == Hex.encode(SM3.hash(message)))
    }

    @Test(arguments: [0, 16, 64, 65, 200])
    func hmacEqualsOpenSSL(keyLength: Int) throws {
        let key = pseudoRandomBytes(count: keyLength, seed: 99)
        let message = pseudoRandomBytes(count: 777, seed: 100)
        let output = try openssl(["mac", "-digest", "SM3", "-macopt", "hexkey:\(Hex.encode(key))", "HMAC"], input: message)
        #expect(output.status == 0, "\(output.standardError)")
        let theirs = output.text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        #expect(theirs == Hex.encode(HMACSM3.authenticationCode(key: key, message: message)))
    }

    @Test func hexRejectsOddLengthsAndNonHexDigits() {
        #expect(throws: SMCryptoError.self) { try Hex.decode("abc") }
        #expect(throws: SMCryptoError.self) { try Hex.decode("zz") }
        #expect((try? Hex.decode("00FFaB")) == [0x00, 0xFF, 0xAB])
    }
}
