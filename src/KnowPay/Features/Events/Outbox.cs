using KnowPay.Data;
using KnowPay.Domain;
using KnowPay.Infrastructure;

namespace KnowPay.Features.Events;

/// <summary>Adds an event to the outbox in the caller's unit of work, so it commits (or not) with the change itself, and
/// queues it for the webhook fan-out (<see cref="PendingFanOut"/>).</summary>
public static class Outbox
{
    public static OutboxEvent Add(KnowPayDb db, string merchantId, string type, string objectId, object data, DateTime now)
    {
        var (evt, queued) = Build(merchantId, type, objectId, data, now);
        db.Events.Add(evt);
        db.PendingFanOuts.Add(queued);
        return evt;
    }

    /// <summary>The same, staged with the rows of a one-statement write.</summary>
    public static OutboxEvent Add(StagedRows rows, string merchantId, string type, string objectId, object data, DateTime now)
    {
        var (evt, queued) = Build(merchantId, type, objectId, data, now);
        rows.Insert(evt);
        rows.Insert(queued);
        return evt;
    }

    static (OutboxEvent Event, PendingFanOut Queued) Build(string merchantId, string type, string objectId, object data, DateTime now)
    {
        var evt = new OutboxEvent
        {
            Id = Ids.New("evt"), MerchantId = merchantId, Type = type, ObjectId = objectId,
            Data = KnowPayJson.Serialize(data), CreatedAt = now,
        };
        return (evt, new PendingFanOut { EventId = evt.Id, MerchantId = merchantId, CreatedAt = now });
    }
}
