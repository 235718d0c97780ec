/// The version of `spec/ml.md` this library implements. It is part of every build id, so
/// workers that train by a different contract are refused by the coordinator.
public enum MLContract {
    public static let version = "ml-v1+ext3"
}
