using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <summary>Rates' same-hour baselines (samples, the alert's baseline); and stored policies with the three earlier built-in
    /// rules get card_testing_cards (see <see cref="CardTestingCardsBackfill"/>), a data step that needs no model of its own.</summary>
    public partial class AnomalySameHourRates : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "samples",
                table: "risk_anomaly_baselines",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "baseline",
                table: "alerts",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.Sql(CardTestingCardsBackfill.Up);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "samples",
                table: "risk_anomaly_baselines");

            migrationBuilder.DropColumn(
                name: "baseline",
                table: "alerts");
        }
    }
}
