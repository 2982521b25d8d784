/// Splits a SQL script into single statements.
///
/// PostgresNIO speaks only the extended query protocol, which runs one statement per message,
/// so a migration file is executed statement by statement inside one transaction. The splitter
/// knows just enough of PostgreSQL's lexical rules to find the `;` that end statements: it skips
/// quoted strings (`'…'`, `E'…'`), quoted identifiers, dollar-quoted bodies (`$$…$$`,
/// `$tag$…$tag$`), line comments and nested block comments.
public enum SQLScript {
    public struct UnterminatedError: Error, Equatable, CustomStringConvertible {
        /// 1-based line where the unterminated string, identifier, comment or body starts.
        public let line: Int
        public let construct: String
        public var description: String { "unterminated \(construct) starting at line \(line)" }

        public init(line: Int, construct: String) {
            self.line = line
            self.construct = construct
        }
    }

    /// The statements of `script`, trimmed, without their terminating `;`; empty statements and
    /// comment-only fragments are dropped.
    public static func statements(_ script: String) throws(UnterminatedError) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false
        var index = 0
        var line = 1

        func flush() {
            let text = String(current).trimmingWhitespace()
            if hasCode && !text.isEmpty { statements.append(text) }
            current = String.UnicodeScalarView()
            hasCode = false
        }
        func copy(upTo end: Int) {
            for scalar in chars[index..<end] {
                if scalar == "\n" { line += 1 }
                current.append(scalar)
            }
            index = end
        }

        while index < chars.count {
            let scalar = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            switch scalar {
            case "-" where next == "-":
                let end = chars[index...].firstIndex(of: "\n") ?? chars.count
                copy(upTo: end)
            case "/" where next == "*":
                let startLine = line
                guard let end = blockCommentEnd(chars, from: index) else {
                    throw UnterminatedError(line: startLine, construct: "block comment")
                }
                copy(upTo: end)
            case "'", "\"":
                let startLine = line
                guard let end = quotedEnd(chars, from: index, quote: scalar) else {
                    throw UnterminatedError(line: startLine, construct: scalar == "'" ? "string" : "quoted identifier")
                }
                hasCode = true
                copy(upTo: end)
            case "$":
                if let tag = dollarTag(chars, at: index) {
                    let startLine = line
                    guard let end = dollarBodyEnd(chars, from: index + tag.count, tag: tag) else {
                        throw UnterminatedError(line: startLine, construct: "dollar-quoted body")
                    }
                    hasCode = true
                    copy(upTo: end)
                } else {
                    hasCode = true
                    copy(upTo: index + 1)
                }
            case ";":
                index += 1
                flush()
            default:
                if !scalar.properties.isWhitespace { hasCode = true }
                copy(upTo: index + 1)
            }
        }
        flush()
        return statements
    }

    /// Index just past the `*/` closing the (possibly nested) block comment opening at `start`.
    private static func blockCommentEnd(_ chars: [Unicode.Scalar], from start: Int) -> Int? {
        var depth = 0
        var index = start
        while index + 1 < chars.count {
            if chars[index] == "/" && chars[index + 1] == "*" {
                depth += 1
                index += 2
            } else if chars[index] == "*" && chars[index + 1] == "/" {
                depth -= 1
                index += 2
                if depth == 0 { return index }
            } else {
                index += 1
            }
        }
        return nil
    }

    /// Index just past the closing quote; a doubled quote is an escaped quote. Backslash escapes
    /// (E'…' strings) are honoured too, which is harmless for standard strings in migrations.
    private static func quotedEnd(_ chars: [Unicode.Scalar], from start: Int, quote: Unicode.Scalar) -> Int? {
        var index = start + 1
        let escapes = quote == "'" && start > 0 && (chars[start - 1] == "E" || chars[start - 1] == "e")
        while index < chars.count {
            if escapes && chars[index] == "\\" {
                index += 2
                continue
            }
            if chars[index] == quote {
                if index + 1 < chars.count && chars[index + 1] == quote {
                    index += 2
                    continue
                }
                return index + 1
            }
            index += 1
        }
        return nil
    }

    /// The dollar-quote tag (`$$` or `$name$`) starting at `index`, if one starts there.
    private static func dollarTag(_ chars: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        if index > 0, chars[index - 1].properties.isAlphabetic || chars[index - 1] == "_" || chars[index - 1].properties.numericType != nil {
            return nil
        }
        var end = index + 1
        while end < chars.count, chars[end] == "_" || chars[end].properties.isAlphabetic || (end > index + 1 && chars[end].properties.numericType != nil) {
            end += 1
        }
        guard end < chars.count, chars[end] == "$" else { return nil }
        return Array(chars[index...end])
    }

    private static func dollarBodyEnd(_ chars: [Unicode.Scalar], from start: Int, tag: [Unicode.Scalar]) -> Int? {
        var index = start
        while index + tag.count <= chars.count {
            if chars[index] == "$" && Array(chars[index..<index + tag.count]) == tag { return index + tag.count }
            index += 1
        }
        return nil
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
