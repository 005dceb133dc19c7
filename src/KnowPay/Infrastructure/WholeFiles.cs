namespace KnowPay.Infrastructure;

/// <summary>Key files written beside and moved into place: a reader never sees half a file.</summary>
public static class WholeFiles
{
    /// <summary>
    /// <paramref name="write"/> fills a temporary file beside <paramref name="path"/>, which is then moved over it. Without
    /// <paramref name="overwrite"/>, a file that appeared meanwhile wins: the temporary one is deleted and the answer is false.
    /// </summary>
    public static bool Write(string path, Action<string> write, bool overwrite = true)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        write(temp);
        try { File.Move(temp, path, overwrite); }
        catch (IOException) when (!overwrite && File.Exists(path))
        {
            File.Delete(temp);
            return false;
        }
        return true;
    }
}
