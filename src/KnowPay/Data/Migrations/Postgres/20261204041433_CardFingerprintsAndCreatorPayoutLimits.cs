using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class CardFingerprintsAndCreatorPayoutLimits : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "creator_daily_payout_amount",
                table: "risk_policies",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "creator_payout_max",
                table: "risk_policies",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "card_fingerprint",
                table: "payments",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_payments_card_fingerprint",
                table: "payments",
                columns: new[] { "merchant_id", "card_fingerprint", "created_at" },
                filter: "card_fingerprint IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_payments_card_fingerprint",
                table: "payments");

            migrationBuilder.DropColumn(
                name: "creator_daily_payout_amount",
                table: "risk_policies");

            migrationBuilder.DropColumn(
                name: "creator_payout_max",
                table: "risk_policies");

            migrationBuilder.DropColumn(
                name: "card_fingerprint",
                table: "payments");
        }
    }
}
