using CsvHelper;

namespace KnowPay.Features.Reconciliation;

/// <summary>The CsvHelper reading shared by the bill formats: header names checked up front, malformed rows an error with their line.</summary>
static class BillCsv
{
    public static CsvReader Open(string text, char? commentPrefix = null) => CsvReader.FromText(text, new CsvReaderOptions
    {
        CommentPrefix = commentPrefix,
        TrimWhitespace = true,          // Alipay pads ID-like cells with a tab so that spreadsheets keep them as text
        TrackLineNumbers = true,
        SkipEmptyLines = true,
        FieldCountMismatch = CsvFieldCountHandling.Throw,
        MalformedData = CsvMalformedDataHandling.Throw,
    });

    /// <summary>The index of every named column; a missing one is a format error (columns are mapped by name, never by position).</summary>
    public static Dictionary<string, int> Columns(CsvReader reader, IEnumerable<string> names)
    {
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in names)
            columns[name] = reader.TryGetFieldIndex(name, out var index) ? index
                : throw new BillFormatException($"missing column {name}", 1);
        return columns;
    }

    /// <summary>Reads every record, turning CsvHelper's format errors into <see cref="BillFormatException"/> with the line.</summary>
    public static IEnumerable<int> Records(CsvReader reader)
    {
        while (true)
        {
            try
            {
                if (!reader.Read()) yield break;
            }
            catch (CsvFormatException e)
            {
                throw new BillFormatException("malformed row: " + e.Message, (int)e.LineNumber);
            }
            yield return (int)reader.LineNumber;
        }
    }
}
