import ArgumentParser
import Foundation
import Protocol

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CURVE keys for encrypted, authenticated sweeps.",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a CURVE key pair: DIR/NAME.pub (share it) and DIR/NAME.key (secret, mode 0600).")

        @Option(help: "Folder for the keys (created with mode 0700 when missing).") var out: String
        @Option(help: "Key name: workers are named by it on the leaderboard.") var name: String
        @Flag(help: "Overwrite an existing key pair.") var force = false

        func validate() throws {
            guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
                throw ValidationError("--name must be a plain file name")
            }
        }

        func run() throws {
            let folder = URL(fileURLWithPath: out)
            if !FileManager.default.fileExists(atPath: folder.path) {
                try FileManager.default.createDirectory(
                    at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            let publicFile = folder.appendingPathComponent("\(name).pub"), secretFile = folder.appendingPathComponent("\(name).key")
            for file in [publicFile, secretFile] where FileManager.default.fileExists(atPath: file.path) && !force {
                throw ValidationError("\(file.path) exists; pass --force to replace the key pair")
            }
            let (publicKey, secretKey) = try Curve.generateKeyPair()
            try? FileManager.default.removeItem(at: secretFile)
            guard
                FileManager.default.createFile(
                    atPath: secretFile.path, contents: Data((secretKey + "\n").utf8),
                    attributes: [.posixPermissions: 0o600])
            else {
                throw ValidationError("cannot write \(secretFile.path)")
            }
            try Data((publicKey + "\n").utf8).write(to: publicFile)
            print("wrote \(publicFile.path) (public: share it) and \(secretFile.path) (secret, mode 0600)")
        }
    }
}
