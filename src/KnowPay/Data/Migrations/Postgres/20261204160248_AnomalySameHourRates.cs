using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
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
