using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class AnomalyMetrics : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "pk_risk_anomaly_baselines",
                table: "risk_anomaly_baselines");

            migrationBuilder.RenameColumn(
                name: "succeeded",
                table: "risk_anomaly_baselines",
                newName: "hits");

            migrationBuilder.RenameColumn(
                name: "settled",
                table: "risk_anomaly_baselines",
                newName: "total");

            migrationBuilder.AddColumn<string>(
                name: "metric",
                table: "risk_anomaly_baselines",
                type: "character varying(32)",
                maxLength: 32,
                nullable: false,
                defaultValue: "success_rate");

            migrationBuilder.AddColumn<int>(
                name: "hour_of_day",
                table: "risk_anomaly_baselines",
                type: "integer",
                nullable: false,
                defaultValue: -1);

            migrationBuilder.AddPrimaryKey(
                name: "pk_risk_anomaly_baselines",
                table: "risk_anomaly_baselines",
                columns: new[] { "merchant_id", "provider", "metric", "hour_of_day" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "pk_risk_anomaly_baselines",
                table: "risk_anomaly_baselines");

            migrationBuilder.DropColumn(
                name: "metric",
                table: "risk_anomaly_baselines");

            migrationBuilder.DropColumn(
                name: "hour_of_day",
                table: "risk_anomaly_baselines");

            migrationBuilder.RenameColumn(
                name: "total",
                table: "risk_anomaly_baselines",
                newName: "settled");

            migrationBuilder.RenameColumn(
                name: "hits",
                table: "risk_anomaly_baselines",
                newName: "succeeded");

            migrationBuilder.AddPrimaryKey(
                name: "pk_risk_anomaly_baselines",
                table: "risk_anomaly_baselines",
                columns: new[] { "merchant_id", "provider" });
        }
    }
}
