import Foundation
import Protocol
import TestSupport
import Testing

@testable import Coordinator

@Suite struct AuthenticatorTests {
    /// A job script authorises its key the instant it starts, often within the second the
    /// coordinator last looked: the key must still be seen on the next look, and a removed one dropped.
    @Test func keysAddedOrRemovedWithinTheSameSecondAreSeenOnTheNextLook() throws {
        let folder = TestFolders.fresh("authorized")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let context = try ZMQContext()
        let authenticator = try Authenticator(context: context, keys: folder)
        #expect(authenticator.authorized.isEmpty)
        let (publicKey, _) = try Curve.generateKeyPair()
        try Data((publicKey + "\n").utf8).write(to: folder.appendingPathComponent("slurm-7-1.pub"))
        try Data("not a key".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        try authenticator.reloadIfChanged()
        #expect(Array(authenticator.authorized.values) == ["slurm-7-1"])
        #expect(authenticator.authorized.keys.first == Curve.decode(publicKey))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("slurm-7-1.pub"))
        try authenticator.reloadIfChanged()
        #expect(authenticator.authorized.isEmpty)
    }
}
