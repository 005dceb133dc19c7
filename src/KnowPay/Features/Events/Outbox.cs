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
        var evt = new OutboxEvent
        {
            Id = Ids.New("evt"), MerchantId = merchantId, Type = type, ObjectId = objectId,
            Data = KnowPayJson.Serialize(data), CreatedAt = now,
        };
        db.Events.Add(evt);
        db.PendingFanOuts.Add(new PendingFanOut { EventId = evt.Id, MerchantId = merchantId, CreatedAt = now });
        return evt;
    }
}
