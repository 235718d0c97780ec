import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
    import Vocabulary
#endif

/// A program folder named by content: SHA-256 over its files' relative paths and hashes, with
/// the paths a `.sweepignore` (gitignore syntax) leaves out left out. `.git` and `__pycache__`
/// are always left out.
public struct ProgramFingerprint: Sendable, Equatable {
    /// The largest program shipped: 256 MiB in all.
    public static let maximumBytes = 256 << 20

    public var fingerprint: String
    /// Relative paths (`/`-separated), sorted, with sizes and SHA-256s.
    public var files: [FileDigest]

    public var totalBytes: Int { files.reduce(0) { $0 + $1.size } }

    /// The most files a program folder may hold.
    public static let maximumFiles = 100_000

    /// Hashes the folder's files (a symbolic link counts as the file it names). Refused, with the
    /// path: a FIFO, socket or device (hashing one would block or never end), a link that leads
    /// back to a folder holding it (a cycle would ship the folder again and again), a name with a
    /// control character (a tab or newline would make two folders' listings read alike), more than
    /// ``maximumFiles`` files or more than `maximumBytes`.
    public static func compute(folder: URL, maximumBytes: Int = maximumBytes) throws -> ProgramFingerprint {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ProgramError("\(folder.path): no such program folder")
        }
        let rules = try IgnoreRules(folder: folder)
        var paths: [String] = []
        try collect(folder, prefix: "", rules: rules, ancestors: [folder.resolvingSymlinksInPath().path], into: &paths)
        var files: [FileDigest] = [], total = 0
        for path in paths.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let url = folder.appendingPathComponent(path)
            let size = (try FileManager.default.attributesOfItem(atPath: url.resolvingSymlinksInPath().path)[.size] as? Int) ?? 0
            total += size
            guard total <= maximumBytes else {
                throw ProgramError(
                    "\(folder.path): the program is larger than \(maximumBytes >> 20) MiB (at \(path)); leave data and checkpoints out with a .sweepignore"
                )
            }
            files.append(.init(name: path, size: size, sha256: try fileSHA256(url)))
        }
        return ProgramFingerprint(fingerprint: listingHash(files), files: files)
    }

    /// SHA-256 over the lines `name TAB size TAB sha256 LF`: unambiguous because no accepted
    /// name holds a control character (``nameProblem(_:)``), so stores and trial files made
    /// before that rule still verify.
    static func listingHash(_ files: [FileDigest]) -> String {
        sha256Hex(Array(files.map { "\($0.name)\t\($0.size)\t\($0.sha256)\n" }.joined().utf8))
    }

    /// Why a relative path cannot be a program file's name, or nil: a control character (tab,
    /// newline, NUL…), an empty part, `.` or `..`, or a leading `/`.
    public static func nameProblem(_ path: String) -> String? {
        if path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "has a control character (a tab or a newline) in its name"
        }
        if path.hasPrefix("/")
            || path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        {
            return "is not a plain relative path (an empty part, . or .., or a leading /)"
        }
        return nil
    }

    private static func collect(_ folder: URL, prefix: String, rules: IgnoreRules, ancestors: Set<String>, into paths: inout [String])
        throws
    {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        for name in names.sorted() where name != ".git" && name != "__pycache__" {
            let path = prefix + name
            let url = folder.appendingPathComponent(name)
            var link = stat(), target = stat()
            guard lstat(url.path, &link) == 0 else { continue }
            let isLink = link.st_mode & S_IFMT == S_IFLNK
            guard stat(url.path, &target) == 0 else { continue }  // a dangling link
            let isDirectory = target.st_mode & S_IFMT == S_IFDIR
            if rules.ignores(path, isDirectory: isDirectory) { continue }
            if let problem = nameProblem(path) {
                throw ProgramError("\(url.path.debugDescription) \(problem); rename it or leave it out with a .sweepignore")
            }
            if isDirectory {
                let real = url.resolvingSymlinksInPath().path
                guard !ancestors.contains(real) else {
                    throw ProgramError(
                        "\(url.path) is a link to \(real), a folder that holds it: the folder would be shipped inside itself without end; remove the link or leave it out with a .sweepignore"
                    )
                }
                try collect(url, prefix: path + "/", rules: rules, ancestors: ancestors.union([real]), into: &paths)
            } else if target.st_mode & S_IFMT != S_IFREG {
                throw ProgramError(
                    "\(url.path)\(isLink ? " leads to" : " is") \(fileTypeName(target.st_mode)), not a regular file; a program folder holds files and folders only (leave it out with a .sweepignore)"
                )
            } else if access(url.path, R_OK) == 0 {
                paths.append(path)
                guard paths.count <= maximumFiles else {
                    throw ProgramError(
                        "\(folder.path): more than \(maximumFiles) files (links that lead to the same folder twice multiply them); leave some out with a .sweepignore"
                    )
                }
            } else {
                throw ProgramError("\(url.path): cannot be read; leave it out with a .sweepignore")
            }
        }
    }

    /// SHA-256 of a file, read in 1 MiB pieces.
    static func fileSHA256(_ url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty { hasher.update(data: piece) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// A problem with a program: its folder, command or reports.
public struct ProgramError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The rules of a `.sweepignore`, in gitignore syntax: `#` comments, `!` to take a path back,
/// a trailing `/` for folders only, a `/` at the start or in the middle to anchor the pattern to
/// the program folder (otherwise it matches a name at any depth), `*`, `?`, `[…]` and `**`.
/// The last rule that matches a path decides; a left-out folder leaves out all it holds.
struct IgnoreRules {
    struct Rule {
        var regex: NSRegularExpression
        var negated: Bool
        var directoryOnly: Bool
    }

    var rules: [Rule] = []

    init(folder: URL) throws {
        let file = folder.appendingPathComponent(".sweepignore")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return }
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(rawLine)
            if line.hasSuffix("\r") { line.removeLast() }
            while line.hasSuffix(" ") && !line.hasSuffix("\\ ") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            var negated = false
            if line.hasPrefix("!") {
                negated = true
                line.removeFirst()
            } else if line.hasPrefix("\\") {
                line.removeFirst()
            }
            var directoryOnly = false
            if line.hasSuffix("/") {
                directoryOnly = true
                line.removeLast()
            }
            let anchored = line.contains("/")
            if line.hasPrefix("/") { line.removeFirst() }
            guard !line.isEmpty,
                let regex = try? NSRegularExpression(pattern: "^" + (anchored ? "" : "(?:.*/)?") + Self.regex(glob: line) + "$")
            else {
                throw ProgramError("\(file.path):\(index + 1): not a pattern: \(rawLine)")
            }
            rules.append(Rule(regex: regex, negated: negated, directoryOnly: directoryOnly))
        }
    }

    /// Whether `path` (relative, `/`-separated) is left out.
    func ignores(_ path: String, isDirectory: Bool) -> Bool {
        var ignored = false
        let range = NSRange(path.startIndex..., in: path)
        for rule in rules where !rule.directoryOnly || isDirectory {
            if rule.regex.firstMatch(in: path, range: range) != nil { ignored = !rule.negated }
        }
        return ignored
    }

    /// A gitignore glob as a regular expression over `/`-separated paths.
    static func regex(glob: String) -> String {
        var result = "", characters = Array(glob), index = 0
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "*":
                if index + 1 < characters.count && characters[index + 1] == "*" {
                    let atStart = index == 0 || characters[index - 1] == "/"
                    let slashAfter = index + 2 < characters.count && characters[index + 2] == "/"
                    if atStart && slashAfter {
                        result += "(?:.*/)?"  // `**/`: any number of folders, none included
                        index += 3
                        continue
                    }
                    result += ".*"
                    index += 2
                    continue
                }
                result += "[^/]*"
            case "?": result += "[^/]"
            case "[":
                if let close = characters[(index + 1)...].firstIndex(of: "]") {
                    var body = String(characters[(index + 1)..<close])
                    if body.hasPrefix("!") { body = "^" + body.dropFirst() }
                    result += "[" + body.replacingOccurrences(of: "\\", with: "\\\\") + "]"
                    index = close + 1
                    continue
                }
                result += "\\["
            case "\\":
                if index + 1 < characters.count {
                    result += NSRegularExpression.escapedPattern(for: String(characters[index + 1]))
                    index += 2
                    continue
                }
            default: result += NSRegularExpression.escapedPattern(for: String(character))
            }
            index += 1
        }
        return result
    }
}
