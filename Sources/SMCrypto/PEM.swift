import Foundation

/// PEM (RFC 7468) armour around DER: `-----BEGIN LABEL-----`, base64, `-----END LABEL-----`.
enum PEM {
    static func encode(label: String, der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN \(label)-----"]
        var start = base64.startIndex
        while start < base64.endIndex {
            let end = base64.index(start, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[start..<end]))
            start = end
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The label and DER bytes of the one PEM block in `text`; only whitespace may surround it.
    static func decode(_ text: String) throws(SMCryptoError) -> (label: String, der: [UInt8]) {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard let begin = lines.first, begin.hasPrefix("-----BEGIN "), begin.hasSuffix("-----"), begin.count > 16 else {
            throw SMCryptoError(.malformedEncoding, "not PEM: the text does not start with a -----BEGIN …----- line")
        }
        let label = String(begin.dropFirst(11).dropLast(5))
        guard let endIndex = lines.firstIndex(of: "-----END \(label)-----") else {
            throw SMCryptoError(.truncated, "PEM block \(label) has no -----END \(label)----- line")
        }
        guard endIndex == lines.count - 1 else {
            throw SMCryptoError(.trailingBytes, "text follows the PEM block \(label)")
        }
        let body = lines[1..<endIndex].joined()
        // Foundation's decoder tolerates odd padding; only canonical base64 gives one text per key.
        guard !body.contains(":"), let data = Data(base64Encoded: body), !data.isEmpty, data.base64EncodedString() == body else {
            throw SMCryptoError(.malformedEncoding, "PEM block \(label) is not canonical base64 (encrypted keys are not supported)")
        }
        return (label, Array(data))
    }
}
