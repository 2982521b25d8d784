/// The small, strict subset of ASN.1 DER that SM2 keys and signatures use.
///
/// Strict on purpose: definite minimal lengths, no trailing bytes, minimal INTEGERs — a
/// signature or key has exactly one encoding, so two byte strings never mean the same thing.
enum DER {
    static let sequence: UInt8 = 0x30
    static let integer: UInt8 = 0x02
    static let bitString: UInt8 = 0x03
    static let octetString: UInt8 = 0x04
    static let objectIdentifier: UInt8 = 0x06
    static let contextZero: UInt8 = 0xA0
    static let contextOne: UInt8 = 0xA1

    /// id-ecPublicKey, 1.2.840.10045.2.1
    static let ecPublicKeyOID: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
    /// sm2p256v1, 1.2.156.10197.1.301
    static let sm2CurveOID: [UInt8] = [0x2A, 0x81, 0x1C, 0xCF, 0x55, 0x01, 0x82, 0x2D]

    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var encoded = [tag]
        let count = content.count
        if count < 0x80 {
            encoded.append(UInt8(count))
        } else {
            var lengthBytes: [UInt8] = []
            var remaining = count
            while remaining > 0 {
                lengthBytes.insert(UInt8(remaining & 0xFF), at: 0)
                remaining >>= 8
            }
            encoded.append(0x80 | UInt8(lengthBytes.count))
            encoded += lengthBytes
        }
        return encoded + content
    }

    /// A non-negative INTEGER from big-endian magnitude bytes, minimally encoded.
    static func unsignedInteger(_ magnitude: [UInt8]) -> [UInt8] {
        var content = Array(magnitude.drop { $0 == 0 })
        if content.isEmpty || content[0] & 0x80 != 0 { content.insert(0, at: 0) }
        return tlv(integer, content)
    }

    static func sequence(_ parts: [UInt8]...) -> [UInt8] { tlv(sequence, parts.flatMap { $0 }) }
}

/// Reads DER elements front to back; every error says what was wrong.
struct DERReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    var isAtEnd: Bool { bytes.isEmpty }
    var nextTag: UInt8? { bytes.first }

    /// The content of the next element, which must carry `tag`.
    mutating func read(_ tag: UInt8, _ what: String) throws(SMCryptoError) -> ArraySlice<UInt8> {
        guard let actual = bytes.first else { throw SMCryptoError(.truncated, "\(what) is missing") }
        guard actual == tag else {
            throw SMCryptoError(
                .malformedEncoding, "\(what): expected tag 0x\(Hex.encode([tag])), found 0x\(Hex.encode([actual]))")
        }
        var cursor = bytes.index(after: bytes.startIndex)
        guard cursor < bytes.endIndex else { throw SMCryptoError(.truncated, "\(what) has no length") }
        let first = bytes[cursor]
        cursor += 1
        var length = 0
        if first < 0x80 {
            length = Int(first)
        } else {
            let lengthByteCount = Int(first & 0x7F)
            guard lengthByteCount >= 1, lengthByteCount <= 4 else {
                throw SMCryptoError(.malformedEncoding, "\(what) has an indefinite or oversized length")
            }
            guard bytes.endIndex - cursor >= lengthByteCount else {
                throw SMCryptoError(.truncated, "\(what)'s length is cut off")
            }
            for byte in bytes[cursor..<(cursor + lengthByteCount)] { length = length << 8 | Int(byte) }
            cursor += lengthByteCount
            let minimalByteCount = (length.bitWidth - length.leadingZeroBitCount + 7) / 8
            guard length >= 0x80, lengthByteCount == minimalByteCount else {
                throw SMCryptoError(.malformedEncoding, "\(what)'s length is not minimally encoded")
            }
        }
        guard bytes.endIndex - cursor >= length else {
            throw SMCryptoError(.truncated, "\(what) declares \(length) bytes but \(bytes.endIndex - cursor) remain")
        }
        let content = bytes[cursor..<(cursor + length)]
        bytes = bytes[(cursor + length)...]
        return content
    }

    /// A non-negative INTEGER's magnitude, rejecting non-minimal and negative encodings.
    mutating func readUnsignedInteger(_ what: String) throws(SMCryptoError) -> ArraySlice<UInt8> {
        let content = try read(DER.integer, what)
        guard let first = content.first else { throw SMCryptoError(.malformedEncoding, "\(what) is an empty INTEGER") }
        guard first & 0x80 == 0 else { throw SMCryptoError(.malformedEncoding, "\(what) is negative") }
        if first == 0, content.count > 1, content[content.startIndex + 1] & 0x80 == 0 {
            throw SMCryptoError(.malformedEncoding, "\(what) has a superfluous leading zero")
        }
        return content.drop { $0 == 0 }
    }

    func expectEnd(_ what: String) throws(SMCryptoError) {
        guard bytes.isEmpty else { throw SMCryptoError(.trailingBytes, "\(bytes.count) bytes follow \(what)") }
    }
}
